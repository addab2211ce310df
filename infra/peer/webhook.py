"""The peer of Inlet's webhook function: Stripe's own library verifies the signature
(stripe.Webhook.construct_event), boto3 enqueues the raw body to SQS. Run by
`scripts/bench` under the loopback Lambda Runtime API with awslambdaric.
"""

import json
import os

import boto3
import stripe

QUEUE = os.environ["PEER_QUEUE_URL"]
SECRET = os.environ["PEER_STRIPE_SECRET"]
sqs = boto3.client("sqs")


def lambda_handler(event, context):
    body = event.get("body") or ""
    signature = (event.get("headers") or {}).get("stripe-signature", "")
    try:
        verified = stripe.Webhook.construct_event(body, signature, SECRET)
    except (ValueError, stripe.SignatureVerificationError) as e:
        return {"statusCode": 401, "body": json.dumps({"error": str(e)})}
    sqs.send_message(QueueUrl=QUEUE, MessageBody=body)
    return {"statusCode": 202, "body": json.dumps({"status": "accepted", "key": f"stripe:{verified['id']}"})}
