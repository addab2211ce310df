//! An example consumer of Inlet's events: an SQS queue subscribed by a rule to paid Stripe
//! invoices, each handled once however often it is delivered (webhook retries, the
//! reconciliation poll finding it again, a replay). Deploy it beside the stack with
//! `examples/consumer/template.yaml`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use inlet_consumer::{Consumer, InletEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

/// The part of Stripe's `invoice.paid` event this consumer reads.
#[derive(Debug, Deserialize)]
struct StripeEvent {
    data: StripeData,
}

#[derive(Debug, Deserialize)]
struct StripeData {
    object: Invoice,
}

#[derive(Debug, Deserialize)]
struct Invoice {
    id: String,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    amount_paid: i64,
}

/// What handling an invoice produced: stored, and returned again to every duplicate.
#[derive(Debug, Serialize, Deserialize)]
struct Fulfilment {
    invoice: String,
    amount_paid: i64,
    order: String,
}

/// The business effect, which must not happen twice: here, a log line standing for
/// "create the order in the ERP".
async fn fulfil(event: InletEvent<StripeEvent>) -> Result<Fulfilment, std::io::Error> {
    let invoice = event.payload.data.object;
    let order = format!("order-for-{}", invoice.id);
    tracing::info!(
        key = event.key,
        invoice = invoice.id,
        customer = invoice.customer.as_deref().unwrap_or("-"),
        amount_paid = invoice.amount_paid,
        order,
        "fulfilled"
    );
    Ok(Fulfilment {
        invoice: invoice.id,
        amount_paid: invoice.amount_paid,
        order,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let consumer = Consumer::from_env().await?;
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            consumer
                .handle_sqs(event.payload, &event.context, fulfil)
                .await,
        )
    }))
    .await
}
