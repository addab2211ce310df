"""The Powertools peer of Inlet's worker, written as AWS Lambda Powertools for Python
documents an idempotent SQS consumer: BatchProcessor + process_partial_response, and
@idempotent_function on a DynamoDBPersistenceLayer, with module-level boto3 clients.
Each record (a Stripe event) is published to an EventBridge bus, as Inlet's worker does.
Run by `scripts/bench` under the loopback Lambda Runtime API with awslambdaric.
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

BUS = os.environ["PEER_EVENT_BUS"]
events = boto3.client("events")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["PEER_TABLE"], key_attr="pk")
config = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=7 * 86400)
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)
def publish(event: dict) -> dict:
    events.put_events(
        Entries=[
            {
                "EventBusName": BUS,
                "Source": "peer.stripe",
                "DetailType": event.get("type", "unknown"),
                "Detail": json.dumps(event),
            }
        ]
    )
    return {"published": event["id"]}


def record_handler(record):
    publish(event=json.loads(record.body))


def lambda_handler(event, context):
    config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
