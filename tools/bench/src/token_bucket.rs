//! A write capacity in items per second, as a token bucket holding at most one second's worth.

use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// Starts full.
    pub fn new(per_second: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            per_second: per_second as f64,
            tokens: per_second as f64,
            refilled: now,
        }
    }

    /// Takes up to `wanted` whole tokens and says how many it got.
    pub fn take(&mut self, wanted: u64, now: Instant) -> u64 {
        let earned = now.saturating_duration_since(self.refilled).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.per_second);
        self.refilled = now;
        let granted = (self.tokens.floor() as u64).min(wanted);
        self.tokens -= granted as f64;
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grants_a_burst_of_one_second_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100, start);
        assert_eq!(bucket.take(25, start), 25);
        assert_eq!(bucket.take(100, start), 75, "the rest of the first second");
        assert_eq!(bucket.take(25, start), 0);
        assert_eq!(bucket.take(25, start + Duration::from_millis(100)), 10);
        // A long pause does not bank more than one second.
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.take(1_000, later), 100);
    }

    #[test]
    fn over_a_long_run_grants_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5_000, start);
        let mut granted = 0;
        for ms in 0..=10_000u64 {
            granted += bucket.take(25, start + Duration::from_millis(ms));
        }
        // One second's burst plus ten seconds at the rate.
        assert!((54_900..=55_000).contains(&granted), "granted {granted}");
    }
}
