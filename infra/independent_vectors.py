"""Signatures made by the providers' own libraries (and Python's hmac for schemes whose
provider publishes no signer — confirmed by the provider's own verifier where it has one,
as Square's), for Inlet's verifiers to accept byte for byte.

Usage: python independent_vectors.py OUT.json [--seed N]
Each run draws fresh secrets and bodies (unicode, whitespace, large); the Rust suite reads
OUT.json through INLET_INDEPENDENT_VECTORS, or the committed fixture when run alone.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import sys

import urllib.parse

import stripe
from slack_sdk.signature import SignatureVerifier
from square.utils.webhooks_helper import verify_signature as square_verify_signature
from twilio.request_validator import RequestValidator as TwilioRequestValidator
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook


def bodies(rng):
    yield json.dumps({"id": "evt_%d" % rng.randrange(10**9), "type": "invoice.paid", "data": {"object": {"id": "in_1", "object": "invoice"}}})
    yield json.dumps({"id": "evt_u%d" % rng.randrange(10**9), "type": "customer.updated", "name": "Zoë Ångström — 東京 🚀"}, ensure_ascii=False)
    yield '{\n  "id": "evt_ws%d",\n  "type": "x.y",\n  "spaces": "  kept  exactly  "\n}\n' % rng.randrange(10**9)
    yield json.dumps({"id": "evt_big%d" % rng.randrange(10**9), "type": "big", "blob": "x" * 20_000})


def main():
    out = sys.argv[1]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--seed" else random.randrange(2**31)
    rng = random.Random(seed)
    now = 1_700_000_000 + rng.randrange(10**8)
    when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
    cases = []
    for body in bodies(rng):
        raw = bytes(rng.randrange(256) for _ in range(24))
        whsec = "whsec_" + base64.b64encode(raw).decode()
        msg_id = "msg_%032x" % rng.getrandbits(128)

        sig = StandardWebhook(whsec).sign(msg_id, when, body)
        cases.append({"library": "standardwebhooks", "scheme": "standard-webhooks", "secret": whsec, "body": body, "now": now,
                      "headers": {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": sig}})

        sig = SvixWebhook(whsec).sign(msg_id, when, body)
        cases.append({"library": "svix", "scheme": "svix", "secret": whsec, "body": body, "now": now,
                      "headers": {"svix-id": msg_id, "svix-timestamp": str(now), "svix-signature": sig}})

        stripe_secret = "whsec_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
        v1 = stripe.WebhookSignature._compute_signature("%d.%s" % (now, body), stripe_secret)
        cases.append({"library": "stripe", "scheme": "stripe", "secret": stripe_secret, "body": body, "now": now,
                      "headers": {"Stripe-Signature": "t=%d,v1=%s,v0=%s" % (now, v1, "0" * 64)}})

        slack_secret = "%032x" % rng.getrandbits(128)
        sig = SignatureVerifier(slack_secret).generate_signature(timestamp=str(now), body=body)
        cases.append({"library": "slack_sdk", "scheme": "slack", "secret": slack_secret, "body": body, "now": now,
                      "headers": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sig}})

        gh_secret = "gh-%x" % rng.getrandbits(64)
        digest = hmac.new(gh_secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        cases.append({"library": "python-hmac", "scheme": "github", "secret": gh_secret, "body": body, "now": now,
                      "headers": {"X-Hub-Signature-256": "sha256=" + digest, "X-GitHub-Delivery": msg_id, "X-GitHub-Event": "push"}})

        shop_secret = "shp-%x" % rng.getrandbits(64)
        digest = base64.b64encode(hmac.new(shop_secret.encode(), body.encode(), hashlib.sha256).digest()).decode()
        cases.append({"library": "python-hmac", "scheme": "shopify", "secret": shop_secret, "body": body, "now": now,
                      "headers": {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": msg_id}})

    # URL-signing providers: the URL is part of what is signed.
    for i, note in enumerate(["hello", "Zoë Ångström — 東京 🚀", "a=b&c=d +plus", "x" * 5_000]):
        url = "https://hooks.example.com/webhooks/twilio?tenant=%d" % rng.randrange(1000)
        params = {"MessageSid": "SM%032x" % rng.getrandbits(128), "From": "+15550100%d" % i, "To": "+15550199", "Body": note,
                  "MessageStatus": "delivered"}
        token = "%032x" % rng.getrandbits(128)
        sig = TwilioRequestValidator(token).compute_signature(url, params)
        assert TwilioRequestValidator(token).validate(url, params, sig)
        cases.append({"library": "twilio", "scheme": "twilio", "public_url": url, "secret": token,
                      "body": urllib.parse.urlencode(params), "now": now,
                      "headers": {"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "idem-%d" % i}})

        url = "https://hooks.example.com/webhooks/square/%d" % rng.randrange(1000)
        body = json.dumps({"merchant_id": "M1", "type": "payment.updated", "event_id": "ev-%032x" % rng.getrandbits(128),
                           "data": {"type": "payment", "id": "p%d" % i, "object": {"note": note}}}, ensure_ascii=False)
        key = "sq-%x" % rng.getrandbits(64)
        sig = base64.b64encode(hmac.new(key.encode(), (url + body).encode(), hashlib.sha256).digest()).decode()
        # Square's SDK has no signer: its own verifier confirms the vector first.
        assert square_verify_signature(request_body=body, signature_header=sig, signature_key=key, notification_url=url)
        cases.append({"library": "squareup", "scheme": "square", "public_url": url, "secret": key, "body": body, "now": now,
                      "headers": {"x-square-hmacsha256-signature": sig}})

    with open(out, "w", encoding="utf-8") as f:
        json.dump({"seed": seed, "cases": cases}, f, ensure_ascii=False)
    print("wrote %d independent signature vectors (seed %d) to %s" % (len(cases), seed, out))


if __name__ == "__main__":
    main()
