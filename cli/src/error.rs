//! Why a command failed, and the one place that turns it into an exit status
//! ([`exit_status`]). Commands return an [`Outcome`]; they print what they found, never
//! their own failure.

use std::fmt::Display;

use crate::exit;

/// What a command returns: `Ok` is exit status 0.
pub type Outcome = Result<(), CliError>;

/// A failed command, by the exit status scripts rely on (see [`crate::exit`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments clap accepts but the command cannot act on (`--key` or `--all`, a time
    /// that does not parse): exit status 2, clap's own.
    #[error("{0}")]
    Usage(String),
    /// The configuration is missing, invalid, or lacks what the command needs: 3.
    #[error("{0}")]
    Config(String),
    /// Nothing matched (no such event, dead letter or source): 4.
    #[error("{0}")]
    NotFound(String),
    /// The operation failed (store, network, provider, a non-2xx answer): 1. Printed
    /// with its whole chain of causes.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    /// Some of the items a command went through failed, each said as it happened
    /// ([`Tally`]); the status is the worst of theirs.
    #[error("{failed} failed (said above)")]
    Several { code: u8, failed: usize },
}

impl CliError {
    pub fn usage(message: impl Display) -> Self {
        CliError::Usage(message.to_string())
    }

    pub fn config(message: impl Display) -> Self {
        CliError::Config(message.to_string())
    }

    pub fn not_found(message: impl Display) -> Self {
        CliError::NotFound(message.to_string())
    }

    pub fn failed(message: impl Display) -> Self {
        CliError::Failed(anyhow::Error::msg(message.to_string()))
    }

    /// The exit status this failure ends the process with.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Config(_) => exit::CONFIG,
            CliError::NotFound(_) => exit::NOT_FOUND,
            CliError::Failed(_) => exit::FAILURE,
            CliError::Several { code, .. } => *code,
        }
    }
}

/// The exit status of a finished command; a failure is said on stderr first.
pub fn exit_status(outcome: Outcome) -> u8 {
    match outcome {
        Ok(()) => exit::OK,
        Err(e) => {
            say(&e);
            e.exit_code()
        }
    }
}

/// A failure on stderr, made inert like every other line (it may quote a provider's error
/// text or an operator's input).
fn say(e: &CliError) {
    crate::errln!("inlet: {}", e.to_string().trim_end());
}

/// A command over several items (keys, ids, feeds): each failure is said as it happens
/// and the command goes on; it ends with the worst status of them.
#[derive(Debug, Default)]
pub struct Tally {
    worst: u8,
    failed: usize,
}

impl Tally {
    pub fn fail(&mut self, e: CliError) {
        say(&e);
        self.worst = self.worst.max(e.exit_code());
        self.failed += 1;
    }

    /// How many items failed so far.
    pub fn failed(&self) -> usize {
        self.failed
    }

    pub fn outcome(self) -> Outcome {
        match self.failed {
            0 => Ok(()),
            failed => Err(CliError::Several {
                code: self.worst,
                failed,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_documented_exit_status() {
        assert_eq!(exit_status(Ok(())), 0);
        assert_eq!(exit_status(Err(CliError::failed("store closed"))), 1);
        assert_eq!(exit_status(Err(CliError::usage("say which"))), 2);
        assert_eq!(exit_status(Err(CliError::config("no sinks"))), 3);
        assert_eq!(exit_status(Err(CliError::not_found("no such event"))), 4);
    }

    #[test]
    fn several_failures_end_with_the_worst_status() {
        let mut tally = Tally::default();
        assert_eq!(exit_status(Tally::default().outcome()), 0);
        tally.fail(CliError::failed("evt_1: queue full"));
        tally.fail(CliError::not_found("no such event: evt_2"));
        tally.fail(CliError::failed("evt_3: queue full"));
        let e = tally.outcome().unwrap_err();
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (4, "3 failed (said above)")
        );
    }

    #[test]
    fn a_failure_prints_its_causes() {
        let e = anyhow::anyhow!("connection refused").context("cannot reach SQS");
        assert_eq!(
            CliError::from(e).to_string(),
            "cannot reach SQS: connection refused"
        );
    }
}
