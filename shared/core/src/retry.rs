//! Retry timing: exponential backoff with jitter, by receive count.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
