//! The deployed configuration, and finding a stack by name.
//!
//! Why an S3 object: the configuration used to travel as the CloudFormation parameter
//! `InletConfig` into every function's environment, and both carriers are capped at 4 KB
//! (a parameter value at 4,096 bytes; a function's environment variables together at 4 KB:
//! docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html and
//! docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, read 2026-12-06). A
//! business with 20 providers, sources, connections and conflict rules passes that. An
//! object in the stack's versioned, KMS-encrypted `ConfigBucket` has no such ceiling (Inlet
//! bounds it at [`MAX_CONFIG_BYTES`]), costs one GetObject per cold start (~10–30 ms in the
//! region), is readable only by the functions' roles, and every version is kept: a rollback
//! is pushing the previous text again, or copying an older version over the key. SSM
//! Parameter Store tops out at 8 KB (advanced tier) and AppConfig adds a deployment service
//! for one file; a file packaged with the code needs a full `sam deploy` per edit.
//!
//! `inlet config push` writes the object after the same checks as `inlet check`; nothing is
//! written for an invalid or oversized file, so the functions keep the last good version.

use aws_sdk_cloudformation::Client as CfnClient;
use aws_sdk_s3::Client as S3Client;

use crate::runtime::Resources;

/// The largest configuration pushed or read: far past any realistic one (the generated
/// 60-provider, 10-source, 20-rule test configuration is ~25 KB).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Where the configuration lives: `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigObject {
    pub bucket: String,
    pub key: String,
}

impl ConfigObject {
    pub fn parse(uri: &str) -> Option<ConfigObject> {
        let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
        (!bucket.is_empty() && !key.is_empty()).then(|| ConfigObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackConfigError {
    #[error("the configuration is {0} bytes; the most Inlet reads is {MAX_CONFIG_BYTES}")]
    TooLarge(usize),
    #[error("{what} failed: {message}")]
    Aws { what: &'static str, message: String },
    #[error("the configuration object is not UTF-8 text")]
    NotText,
    #[error("stack {stack}: {message}")]
    Stack { stack: String, message: String },
}

fn aws<E>(
    what: &'static str,
) -> impl Fn(aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> StackConfigError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| StackConfigError::Aws {
        what,
        message: crate::error::describe(&e),
    }
}

/// Read the configuration and its version id (`None` on an unversioned bucket).
pub async fn read(
    s3: &S3Client,
    object: &ConfigObject,
) -> Result<(String, Option<String>), StackConfigError> {
    let out = s3
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(aws("S3 GetObject (configuration)"))?;
    let declared = usize::try_from(out.content_length.unwrap_or(0)).unwrap_or(usize::MAX);
    if declared > MAX_CONFIG_BYTES {
        return Err(StackConfigError::TooLarge(declared));
    }
    let version = out.version_id.clone();
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| StackConfigError::Aws {
            what: "S3 GetObject (configuration body)",
            message: e.to_string(),
        })?
        .into_bytes();
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(StackConfigError::TooLarge(bytes.len()));
    }
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| StackConfigError::NotText)?;
    Ok((text, version))
}

/// The version id of the object as it stands (HeadObject), `None` on an unversioned bucket.
pub async fn current_version(
    s3: &S3Client,
    object: &ConfigObject,
) -> Result<Option<String>, StackConfigError> {
    let out = s3
        .head_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(aws("S3 HeadObject (configuration)"))?;
    Ok(out.version_id)
}

/// Write the configuration; returns the new version id.
pub async fn write(
    s3: &S3Client,
    object: &ConfigObject,
    text: &str,
) -> Result<Option<String>, StackConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(StackConfigError::TooLarge(text.len()));
    }
    let out = s3
        .put_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .content_type("application/toml")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(aws("S3 PutObject (configuration)"))?;
    Ok(out.version_id)
}

/// A stack's resources and configuration object, from its outputs (DescribeStacks).
pub async fn from_stack(
    cfn: &CfnClient,
    stack: &str,
) -> Result<(Resources, Option<ConfigObject>), StackConfigError> {
    let err = |message: String| StackConfigError::Stack {
        stack: stack.to_string(),
        message,
    };
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            err(format!(
                "DescribeStacks failed: {}",
                crate::error::describe(&e)
            ))
        })?;
    let found = out
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| err("no such stack".into()))?;
    let outputs: std::collections::HashMap<String, String> = found
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value?)))
        .collect();
    let need = |k: &str| {
        outputs.get(k).cloned().ok_or_else(|| {
            err(format!(
                "has no output {k}: is it an Inlet stack (template.yaml), deployed completely?"
            ))
        })
    };
    let resources = Resources {
        queue_url: need("QueueUrl")?,
        dlq_url: need("DeadLetterQueueUrl")?,
        table: need("StateTableName")?,
        event_bus: outputs.get("EventBusName").cloned(),
        payload_bucket: outputs.get("LargeEventBucketName").cloned(),
        outbox_failures_url: outputs.get("OutboxFailuresUrl").cloned(),
        max_receive: None,
        history_shards: outputs.get("HistoryShards").and_then(|n| n.parse().ok()),
    };
    let config = outputs
        .get("ConfigObjectUri")
        .and_then(|u| ConfigObject::parse(u));
    Ok((resources, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_object_uris() {
        assert_eq!(
            ConfigObject::parse("s3://inlet-config-1/inlet.toml"),
            Some(ConfigObject {
                bucket: "inlet-config-1".into(),
                key: "inlet.toml".into()
            })
        );
        for bad in ["s3://", "s3://bucket", "s3:///key", "https://b/k", ""] {
            assert_eq!(ConfigObject::parse(bad), None, "{bad}");
        }
    }
}
