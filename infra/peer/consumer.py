"""The Powertools peer of inlet-consumer (examples/consumer), written as AWS Lambda Powertools
for Python documents an idempotent SQS consumer: BatchProcessor + process_partial_response,
and @idempotent_function on a DynamoDBPersistenceLayer keyed on the event's `detail.key`,
with payload validation on `detail.payload` (what inlet-consumer does by default). Each
record is an Inlet event (EventBridge envelope) whose handler returns a small result, the
same work as the Rust example. Run by `scripts/bench consumer` under the loopback Lambda
Runtime API with awslambdaric.
"""

import json
import os

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

persistence = DynamoDBPersistenceLayer(table_name=os.environ["PEER_TABLE"], key_attr="pk")
config = IdempotencyConfig(
    event_key_jmespath="detail.key",
    payload_validation_jmespath="detail.payload",
    expires_after_seconds=3600,
)
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)
def fulfil(event: dict) -> dict:
    invoice = event["detail"]["payload"]["data"]["object"]
    return {
        "invoice": invoice["id"],
        "amount_paid": invoice.get("amount_paid", 0),
        "order": "order-for-" + invoice["id"],
    }


def record_handler(record):
    fulfil(event=json.loads(record.body))


def lambda_handler(event, context):
    config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
