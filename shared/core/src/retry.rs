//! Retry timing: exponential backoff with jitter, and the one decision every in-process
//! retry loop takes after a failed attempt (the sources' API calls and token fetches, the
//! HTTP sink): back off, honour the other side's `Retry-After`, stop at the attempt limit
//! or before the deadline. The loops keep only what is theirs: how a response is
//! classified and what a refreshed credential needs. The queue's redelivery backoff is
//! [`Backoff`] by receive count.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `receive_count + 1`: `base * 2^(n-1)`, capped at `max`,
    /// with "equal jitter" (half fixed, half random) so a burst of failures spreads out.
    /// `unit` is a uniform random number in [0, 1).
    pub fn delay(&self, receive_count: u32, unit: f64) -> Duration {
        let exp = receive_count.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << exp).min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// [`delay`](Self::delay) with a random jitter.
    pub fn jittered(&self, receive_count: u32) -> Duration {
        self.delay(receive_count, fastrand::f64())
    }
}

/// Why an attempt failed, as a retry loop classified it. Anything else (a refused
/// credential, a bad request, an answer that cannot be read) is not retried and never
/// reaches [`RetryPolicy::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth another try after a backoff: a 5xx, a 408, a timeout, a reset connection.
    Transient,
    /// The other side asked for a pause (a 429, a spent rate limit): the wait it named,
    /// or `None` to back off as for a transient failure.
    Throttled(Option<Duration>),
}

/// What a retry loop does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then try again.
    Wait(Duration),
    /// Stop: say why in the error.
    GiveUp(GiveUp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Every attempt is spent.
    Attempts,
    /// The other side asked for a longer pause than this loop may take (the work goes
    /// back to its queue or to the next run instead).
    WaitTooLong(Duration),
    /// The pause would end past the caller's deadline.
    Deadline,
}

/// How many attempts, the backoff between them, and the longest pause asked for that is
/// honoured in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included); at least 1.
    pub attempts: u32,
    pub backoff: Backoff,
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// After attempt `attempt` (from 1) failed with `failure`: wait, or give up.
    pub fn next(&self, attempt: u32, failure: Failure, deadline: Option<Instant>) -> Next {
        self.decide(attempt, failure, deadline, Instant::now(), fastrand::f64())
    }

    /// [`next`](Self::next) at `now` with the jitter's random `unit` in [0, 1).
    pub fn decide(
        &self,
        attempt: u32,
        failure: Failure,
        deadline: Option<Instant>,
        now: Instant,
        unit: f64,
    ) -> Next {
        if attempt >= self.attempts.max(1) {
            return Next::GiveUp(GiveUp::Attempts);
        }
        let wait = match failure {
            Failure::Throttled(Some(asked)) if !asked.is_zero() => asked,
            Failure::Transient | Failure::Throttled(_) => self.backoff.delay(attempt, unit),
        };
        if wait > self.max_wait {
            return Next::GiveUp(GiveUp::WaitTooLong(wait));
        }
        if deadline.is_some_and(|d| now + wait >= d) {
            return Next::GiveUp(GiveUp::Deadline);
        }
        Next::Wait(wait)
    }

    /// The most the pauses between every attempt can add up to (for lease arithmetic),
    /// not counting waits the other side asks for.
    pub fn worst_case_pauses(&self) -> Duration {
        (1..self.attempts.max(1))
            .map(|a| self.backoff.delay(a, 1.0))
            .sum()
    }
}

/// The longest `Retry-After` honoured, whatever the header says.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` value (RFC 9110 §10.2.3): delay-seconds (a fraction tolerated) or an
/// HTTP-date, as a wait from `now`; at most [`MAX_RETRY_AFTER`], a past date zero.
pub fn retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(secs) = value.parse::<f64>().ok().filter(|s| !s.is_nan()) {
        return Some(Duration::from_secs_f64(
            secs.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    Some(
        Duration::try_from(at - now)
            .unwrap_or_default()
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(5),
            },
            max_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn backs_off_then_gives_up_after_the_last_attempt() {
        let p = policy();
        let now = Instant::now();
        let at = |attempt, failure| p.decide(attempt, failure, None, now, 1.0);
        assert_eq!(
            at(1, Failure::Transient),
            Next::Wait(Duration::from_millis(200))
        );
        assert_eq!(
            at(2, Failure::Transient),
            Next::Wait(Duration::from_millis(400))
        );
        assert_eq!(at(3, Failure::Transient), Next::GiveUp(GiveUp::Attempts));
        assert_eq!(p.worst_case_pauses(), Duration::from_millis(600));
    }

    #[test]
    fn honours_the_wait_asked_for_within_bounds_and_deadline() {
        let p = policy();
        let now = Instant::now();
        let asked = |secs| Failure::Throttled(Some(Duration::from_secs(secs)));
        assert_eq!(
            p.decide(1, asked(3), None, now, 0.0),
            Next::Wait(Duration::from_secs(3))
        );
        // No wait named (or zero): back off as for a transient failure.
        assert_eq!(
            p.decide(1, Failure::Throttled(None), None, now, 1.0),
            Next::Wait(Duration::from_millis(200))
        );
        assert_eq!(
            p.decide(1, asked(0), None, now, 1.0),
            Next::Wait(Duration::from_millis(200))
        );
        assert_eq!(
            p.decide(1, asked(60), None, now, 0.0),
            Next::GiveUp(GiveUp::WaitTooLong(Duration::from_secs(60)))
        );
        let deadline = Some(now + Duration::from_secs(2));
        assert_eq!(
            p.decide(1, asked(3), deadline, now, 0.0),
            Next::GiveUp(GiveUp::Deadline)
        );
        assert_eq!(
            p.decide(1, Failure::Transient, deadline, now, 0.0),
            Next::Wait(Duration::from_millis(100))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_bounds_hostile_values() {
        let now = time::macros::datetime!(2026-12-06 12:00:00 UTC);
        let ra = |v| retry_after(v, now);
        assert_eq!(ra("7"), Some(Duration::from_secs(7)));
        assert_eq!(ra(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(
            ra("Sun, 06 Dec 2026 12:00:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(ra("Sun, 06 Dec 2026 11:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(ra("Sun, 06 Dec 2099 11:00:00 GMT"), Some(MAX_RETRY_AFTER));
        assert_eq!(ra("1e300"), Some(MAX_RETRY_AFTER));
        assert_eq!(ra("-5"), Some(Duration::ZERO));
        for bad in ["NaN", "soon", "", "Sun, 99 Dec 2026 12:00:30 GMT"] {
            assert_eq!(ra(bad), None, "{bad}");
        }
    }

    #[test]
    fn grows_exponentially_with_bounded_jitter() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(b.delay(40, 1.0), Duration::from_secs(60));
        for n in 1..10 {
            let d = b.jittered(n);
            assert!(d >= b.delay(n, 0.0) && d <= b.delay(n, 1.0));
        }
    }
}
