//! A strict fake of SQS's message-move tasks (`StartMessageMoveTask`,
//! `ListMessageMoveTasks`, `CancelMessageMoveTask`), which moto lacks, served by the fault
//! proxy and moving real messages between the emulator's queues.
//!
//! The semantics it keeps from the API reference
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html>,
//! checked 2026-11-28):
//! - without `DestinationArn`, each message goes back to *its source queue*, which SQS knows
//!   only for messages its redrive policy moved (the `DeadLetterQueueSourceArn` system
//!   attribute). A message sent to the DLQ directly has none: the task fails on it with a
//!   reason, after moving what came before it;
//! - only one active task per source queue: a second start is refused;
//! - the task runs on its own: stopping the caller does not stop it; `ListMessageMoveTasks`
//!   reports its status and progress, newest first.
//!
//! Messages move one at a time (send to the destination, then delete from the DLQ) at
//! `per_message` pace, so a test can interrupt a caller halfway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{json, Value};

use crate::aws_limits::json_error;
use crate::faults::Action;

#[derive(Debug, Clone)]
struct Task {
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    status: &'static str,
    moved: i64,
    to_move: i64,
    failure_reason: Option<String>,
    started_ms: i64,
}

pub struct MoveTasks {
    sqs: aws_sdk_sqs::Client,
    tasks: Mutex<Vec<Task>>,
    per_message: Duration,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn queue_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

impl MoveTasks {
    /// Tasks moving messages on the emulator at `upstream`.
    pub fn new(upstream: &str, per_message: Duration) -> Arc<MoveTasks> {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .endpoint_url(upstream)
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .build();
        Arc::new(MoveTasks {
            sqs: aws_sdk_sqs::Client::from_conf(config),
            tasks: Mutex::new(Vec::new()),
            per_message,
        })
    }

    /// The answer to a message-move request, or `None` for any other operation.
    pub fn answer(self: &Arc<Self>, target: &str, body: &[u8]) -> Option<Action> {
        let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match target {
            "AmazonSQS.StartMessageMoveTask" => Some(self.start(&req)),
            "AmazonSQS.ListMessageMoveTasks" => Some(self.list(&req)),
            "AmazonSQS.CancelMessageMoveTask" => Some(self.cancel(&req)),
            _ => None,
        }
    }

    fn start(self: &Arc<Self>, req: &Value) -> Action {
        let Some(source_arn) = req["SourceArn"].as_str() else {
            return json_error(
                400,
                "sqs",
                "InvalidParameterValue",
                "SourceArn is required.",
            );
        };
        let mut tasks = self.tasks.lock().unwrap();
        if tasks
            .iter()
            .any(|t| t.source_arn == source_arn && t.status == "RUNNING")
        {
            return json_error(
                400,
                "sqs",
                "UnsupportedOperation",
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
            );
        }
        let task = Task {
            handle: format!("task-{}-{}", tasks.len() + 1, now_ms()),
            source_arn: source_arn.to_string(),
            destination_arn: req["DestinationArn"].as_str().map(str::to_string),
            status: "RUNNING",
            moved: 0,
            to_move: 0,
            failure_reason: None,
            started_ms: now_ms(),
        };
        let handle = task.handle.clone();
        tasks.push(task);
        drop(tasks);
        let this = Arc::clone(self);
        let h = handle.clone();
        tokio::spawn(async move { this.run(&h).await });
        Action::Respond(200, json!({ "TaskHandle": handle }).to_string())
    }

    fn list(&self, req: &Value) -> Action {
        let source = req["SourceArn"].as_str().unwrap_or_default();
        let max = req["MaxResults"].as_u64().unwrap_or(1).clamp(1, 10) as usize;
        let tasks = self.tasks.lock().unwrap();
        let results: Vec<Value> = tasks
            .iter()
            .rev()
            .filter(|t| t.source_arn == source)
            .take(max)
            .map(|t| {
                let mut v = json!({
                    "Status": t.status,
                    "SourceArn": t.source_arn,
                    "ApproximateNumberOfMessagesMoved": t.moved,
                    "ApproximateNumberOfMessagesToMove": t.to_move,
                    "StartedTimestamp": t.started_ms,
                });
                if t.status == "RUNNING" {
                    v["TaskHandle"] = t.handle.clone().into();
                }
                if let Some(d) = &t.destination_arn {
                    v["DestinationArn"] = d.clone().into();
                }
                if let Some(r) = &t.failure_reason {
                    v["FailureReason"] = r.clone().into();
                }
                v
            })
            .collect();
        Action::Respond(200, json!({ "Results": results }).to_string())
    }

    fn cancel(&self, req: &Value) -> Action {
        let handle = req["TaskHandle"].as_str().unwrap_or_default();
        let mut tasks = self.tasks.lock().unwrap();
        match tasks
            .iter_mut()
            .find(|t| t.handle == handle && t.status == "RUNNING")
        {
            Some(t) => {
                t.status = "CANCELLING";
                Action::Respond(
                    200,
                    json!({ "ApproximateNumberOfMessagesMoved": t.moved }).to_string(),
                )
            }
            None => json_error(
                400,
                "sqs",
                "ResourceNotFoundException",
                "Task does not exist.",
            ),
        }
    }

    fn update(&self, handle: &str, f: impl FnOnce(&mut Task)) -> Task {
        let mut tasks = self.tasks.lock().unwrap();
        let t = tasks.iter_mut().find(|t| t.handle == handle).unwrap();
        f(t);
        t.clone()
    }

    /// Leave a received message in place, visible again at once.
    async fn make_visible(&self, queue_url: &str, receipt: &str) {
        let _ = self
            .sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }

    async fn url_of(&self, arn: &str) -> Option<String> {
        self.sqs
            .get_queue_url()
            .queue_name(queue_name(arn))
            .send()
            .await
            .ok()?
            .queue_url
    }

    async fn run(&self, handle: &str) {
        let task = self.update(handle, |_| {});
        let Some(source_url) = self.url_of(&task.source_arn).await else {
            self.update(handle, |t| {
                t.status = "FAILED";
                t.failure_reason = Some("The source queue does not exist.".into());
            });
            return;
        };
        let depth = self
            .sqs
            .get_queue_attributes()
            .queue_url(&source_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()
            .and_then(|o| o.attributes)
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0);
        self.update(handle, |t| t.to_move = depth);
        loop {
            if self.update(handle, |_| {}).status == "CANCELLING" {
                self.update(handle, |t| t.status = "CANCELLED");
                return;
            }
            let got = self
                .sqs
                .receive_message()
                .queue_url(&source_url)
                .max_number_of_messages(1)
                .visibility_timeout(30)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let Some(m) = got.ok().and_then(|o| o.messages).and_then(|mut v| v.pop()) else {
                self.update(handle, |t| t.status = "COMPLETED");
                return;
            };
            let receipt = m.receipt_handle.clone().unwrap_or_default();
            let origin = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn))
                .cloned();
            let Some(destination) = task.destination_arn.clone().or(origin) else {
                self.make_visible(&source_url, &receipt).await;
                self.update(handle, |t| {
                    t.status = "FAILED";
                    t.failure_reason = Some(format!(
                        "Message {} has no source queue to return to: it was not moved to this queue by a redrive policy. Start the task with a DestinationArn.",
                        m.message_id.as_deref().unwrap_or("?")
                    ));
                });
                return;
            };
            let Some(destination_url) = self.url_of(&destination).await else {
                self.update(handle, |t| {
                    t.status = "FAILED";
                    t.failure_reason = Some("The destination queue does not exist.".into());
                });
                return;
            };
            let sent = self
                .sqs
                .send_message()
                .queue_url(&destination_url)
                .set_message_body(m.body.clone())
                .set_message_attributes(m.message_attributes.clone())
                .send()
                .await;
            if sent.is_err() {
                // Left in place, visible again; the next round tries again.
                self.make_visible(&source_url, &receipt).await;
                tokio::time::sleep(self.per_message).await;
                continue;
            }
            let _ = self
                .sqs
                .delete_message()
                .queue_url(&source_url)
                .receipt_handle(&receipt)
                .send()
                .await;
            self.update(handle, |t| t.moved += 1);
            tokio::time::sleep(self.per_message).await;
        }
    }
}
