//! `inlet replay`: one event again by key, or (on AWS) a window of the event archive.

use crate::args::DataDirArg;
use crate::backend::BackendKind;
use crate::error::{CliError, Outcome};

pub(crate) async fn run(
    place: &DataDirArg,
    key: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Outcome {
    if let Some(key) = key {
        return super::events::replay(place, &[key], &crate::args::EventFilterArgs::default())
            .await;
    }
    match place.backend {
        BackendKind::Local => Err(CliError::usage(
            "say which event: inlet replay KEY (or inlet events replay with a filter)",
        )),
        BackendKind::Aws => {
            let parse = |t: &Option<String>| {
                t.as_deref()
                    .map(|s| crate::reconcile::parse_since(s).ok_or(s.to_string()))
                    .transpose()
            };
            let (from, to) = match (parse(&from), parse(&to)) {
                (Ok(Some(f)), Ok(t)) => (f, t.unwrap_or_else(time::OffsetDateTime::now_utc)),
                (Ok(None), _) => {
                    return Err(CliError::usage("on AWS, replay a window of the event archive: inlet replay --backend aws --from TIME [--to TIME]"));
                }
                (Err(bad), _) | (_, Err(bad)) => {
                    return Err(CliError::usage(format!(
                        "{bad:?} is neither RFC 3339 nor Unix seconds"
                    )));
                }
            };
            let (Ok(archive), Ok(bus)) = (
                std::env::var("INLET_EVENT_ARCHIVE"),
                std::env::var("INLET_EVENT_BUS"),
            ) else {
                return Err(CliError::config("set INLET_EVENT_ARCHIVE and INLET_EVENT_BUS (the stack's EventArchiveArn and EventBusName outputs)"));
            };
            let sdk = inlet_aws::sdk_config().await;
            match inlet_aws::eventbridge::start_replay(
                &aws_sdk_eventbridge::Client::new(&sdk),
                &archive,
                &bus,
                from,
                to,
            )
            .await
            {
                Ok(name) => {
                    crate::outln!("replay {name} started: the archive's events from {from} to {to} go to {bus} again");
                    Ok(())
                }
                Err(e) => Err(CliError::failed(e)),
            }
        }
    }
}
