//! A write capacity in units per second, as a token bucket holding at most one second's worth.

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

    /// Takes exactly `wanted` tokens if there are that many.
    pub fn take_exact(&mut self, wanted: u64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens < wanted as f64 {
            return false;
        }
        self.tokens -= wanted as f64;
        true
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.refilled).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.per_second);
        self.refilled = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Takes single tokens until there are none, as a batch of one-unit items would.
    fn take(bucket: &mut TokenBucket, wanted: u64, now: Instant) -> u64 {
        (0..wanted).filter(|_| bucket.take_exact(1, now)).count() as u64
    }

    #[test]
    fn grants_a_burst_of_one_second_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100, start);
        assert_eq!(take(&mut bucket, 25, start), 25);
        assert_eq!(
            take(&mut bucket, 100, start),
            75,
            "the rest of the first second"
        );
        assert_eq!(take(&mut bucket, 25, start), 0);
        assert_eq!(
            take(&mut bucket, 25, start + Duration::from_millis(100)),
            10
        );
        // A long pause does not bank more than one second.
        let later = start + Duration::from_secs(60);
        assert_eq!(take(&mut bucket, 1_000, later), 100);
        // An item of several units goes through whole or not at all.
        assert!(!bucket.take_exact(3, later + Duration::from_millis(20)));
        assert!(bucket.take_exact(3, later + Duration::from_millis(30)));
    }

    #[test]
    fn over_a_long_run_grants_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5_000, start);
        let mut granted = 0;
        for ms in 0..=10_000u64 {
            granted += take(&mut bucket, 25, start + Duration::from_millis(ms));
        }
        // One second's burst plus ten seconds at the rate.
        assert!((54_900..=55_000).contains(&granted), "granted {granted}");
    }
}
