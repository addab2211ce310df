//! The AWS emulator (moto) that `scripts/test` starts on a free loopback port.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// The emulator as the tests see it: behind a strict proxy that enforces AWS's
/// documented limits and fakes the message-move tasks moto lacks
/// ([`crate::faults::strict`]). `endpoint` and `sdk` go through the proxy; `upstream`
/// is moto itself.
pub struct Moto {
    pub endpoint: String,
    pub upstream: String,
    pub sdk: aws_config::SdkConfig,
}

/// An SDK configuration for an emulator at `endpoint`, with test credentials.
pub async fn sdk_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", fastrand_u64())
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

impl Moto {
    /// Connect to the emulator named by `INLET_TEST_AWS_ENDPOINT`, through a strict
    /// proxy of this test's own.
    pub async fn connect() -> Moto {
        Self::connect_with(crate::faults::forward_all()).await
    }

    /// Like [`connect`](Self::connect), with `rule` deciding first (faults, chaos).
    pub async fn connect_with(rule: crate::faults::Rule) -> Moto {
        let upstream = std::env::var("INLET_TEST_AWS_ENDPOINT")
            .expect("INLET_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts moto on a free port");
        let proxy =
            crate::faults::FaultProxy::start(&upstream, crate::faults::strict(&upstream, rule))
                .await;
        let sdk = sdk_for(&proxy.endpoint).await;
        Moto {
            endpoint: proxy.endpoint,
            upstream,
            sdk,
        }
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        inlet_aws::large_events::s3_client(&self.sdk)
    }

    /// A bucket for events too large for EventBridge.
    pub async fn bucket(&self) -> String {
        let name = unique("inlet-payloads");
        self.s3()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        name
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// The ARN of the queue at `url`.
    pub async fn queue_arn(&self, url: &str) -> String {
        self.sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone()
    }

    /// A work queue and its DLQ with a redrive policy of `max_receive`.
    pub async fn queues(&self, max_receive: u32, fifo: bool) -> (String, String) {
        let sqs = self.sqs();
        let suffix = if fifo { ".fifo" } else { "" };
        let base = unique("inlet");
        let mut dlq = sqs.create_queue().queue_name(format!("{base}-dlq{suffix}"));
        if fifo {
            dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let dlq_url = dlq.send().await.unwrap().queue_url.unwrap();
        let dlq_arn = self.queue_arn(&dlq_url).await;
        let mut q = sqs
            .create_queue()
            .queue_name(format!("{base}{suffix}"))
            .attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
                    .to_string(),
            );
        if fifo {
            q = q.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let queue_url = q.send().await.unwrap().queue_url.unwrap();
        (queue_url, dlq_url)
    }

    /// The single table the stack creates (partition key `pk`, the sparse `pending`
    /// index), as `template.yaml` declares it.
    pub async fn table(&self) -> String {
        let name = unique("inlet");
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let attribute = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .unwrap()
        };
        self.dynamodb()
            .create_table()
            .table_name(&name)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(attribute("pk", ScalarAttributeType::S))
            .attribute_definitions(attribute("pq", ScalarAttributeType::S))
            .attribute_definitions(attribute("pa", ScalarAttributeType::N))
            .attribute_definitions(attribute("ed", ScalarAttributeType::S))
            .attribute_definitions(attribute("rk", ScalarAttributeType::S))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(inlet_aws::conflicts::PENDING_INDEX)
                    .key_schema(key("pq", KeyType::Hash))
                    .key_schema(key("pa", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(inlet_aws::history::EVENTS_INDEX)
                    .key_schema(key("ed", KeyType::Hash))
                    .key_schema(key("rk", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .set_non_key_attributes(Some(
                                inlet_aws::history::EVENTS_INDEX_ATTRIBUTES
                                    .iter()
                                    .map(|a| a.to_string())
                                    .collect(),
                            ))
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        name
    }

    /// A table of its own whose hash key is the string attribute `key`.
    pub async fn table_keyed(&self, key: &str) -> String {
        let name = unique("inlet");
        self.dynamodb()
            .create_table()
            .table_name(&name)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        name
    }

    /// The item `pk` of `table` as stored (empty when there is none).
    pub async fn stored_item(
        &self,
        table: &str,
        pk: &str,
    ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        self.dynamodb()
            .get_item()
            .table_name(table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_default()
    }

    /// An event bus of its own.
    pub async fn bus(&self) -> String {
        let bus = unique("bus");
        aws_sdk_eventbridge::Client::new(&self.sdk)
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .unwrap();
        bus
    }

    /// An event bus and an SQS queue subscribed (by a rule) to everything Inlet
    /// publishes on it: (bus name, observer queue URL).
    pub async fn bus_with_observer(&self) -> (String, String) {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let bus = self.bus().await;
        let observer = self
            .sqs()
            .create_queue()
            .queue_name(unique("observer"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = self.queue_arn(&observer).await;
        events
            .put_rule()
            .name("inlet-to-observer")
            .event_bus_name(&bus)
            .event_pattern(serde_json::json!({"source": [{"prefix": "inlet."}]}).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("inlet-to-observer")
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("observer")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        (bus, observer)
    }

    /// Receive up to ten messages (hidden for `visibility` seconds) and shape them as the
    /// SQS event Lambda's event source mapping delivers.
    pub async fn sqs_event(
        &self,
        queue_url: &str,
        arn: &str,
        visibility: i32,
    ) -> serde_json::Value {
        let out = self
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let records: Vec<serde_json::Value> = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs: serde_json::Map<String, serde_json::Value> = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.into()))
                    .collect();
                serde_json::json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                    "attributes": attrs, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }

    /// The same emulator without the proxy: for what stands in for AWS's own side of
    /// a test (an event source mapping polling the queue, a stream's records, a
    /// consumer), which a fault injected into the system under test must not hit.
    pub async fn direct(&self) -> Moto {
        Moto {
            endpoint: self.upstream.clone(),
            upstream: self.upstream.clone(),
            sdk: sdk_for(&self.upstream).await,
        }
    }

    /// A queue whose large bodies go through a claim check in `table`.
    pub fn queue_with_claim_check(
        &self,
        queue_url: &str,
        dlq_url: &str,
        table: &str,
    ) -> inlet_aws::SqsQueue {
        self.queue(queue_url, dlq_url)
            .with_claim_check(inlet_aws::claim_check::ClaimCheck::new(
                self.dynamodb(),
                table,
            ))
    }

    pub fn queue(&self, queue_url: &str, dlq_url: &str) -> inlet_aws::SqsQueue {
        inlet_aws::SqsQueue::new(
            self.sqs(),
            inlet_aws::SqsQueueConfig {
                queue_url: queue_url.to_string(),
                dlq_url: dlq_url.to_string(),
                wait_secs: 0,
            },
        )
    }
}
