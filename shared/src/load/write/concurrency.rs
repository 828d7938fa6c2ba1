//! How many writes to keep in flight: a slow start, then additive increase and multiplicative
//! decrease, driven by the throttling DynamoDB reports. The same settings then suit a 5-WCU table
//! and a 40,000-WCU one: the limit starts low enough for a cold table, doubles every round trip
//! until the table first pushes back, then climbs by one per round and halves on throttling.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Concurrency {
    limit: usize,
    max: usize,
    /// Clean writes since the limit last changed.
    clean: usize,
    /// No second decrease until writes started after the first have come back.
    calm_until: Option<Instant>,
    /// Until the first throttling, every clean write adds one (the limit doubles per round trip).
    slow_start: bool,
}

/// Where the limit starts: two calls of 25 at DynamoDB's round-trip times stay well inside what a
/// new on-demand table takes at once (4,000 writes per second).
pub const START: usize = 2;

impl Concurrency {
    /// Starts at `START` (or `max`, the configured ceiling, when lower) and never goes below 1.
    pub fn new(max: usize) -> Concurrency {
        let max = max.max(1);
        Concurrency {
            limit: START.min(max),
            max,
            clean: 0,
            calm_until: None,
            slow_start: true,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A write went through without throttling: after a limit's worth of them, allow one more.
    pub fn on_clean(&mut self) {
        self.clean += 1;
        if (self.slow_start || self.clean >= self.limit) && self.limit < self.max {
            self.limit += 1;
            self.clean = 0;
        }
    }

    /// A write was throttled: halve the limit, once per round trip (`latency` of that write), so a
    /// burst of throttled writes that were already in flight counts as one signal.
    pub fn on_throttled(&mut self, now: Instant, latency: Duration) {
        self.clean = 0;
        self.slow_start = false;
        if self.calm_until.is_some_and(|until| now < until) {
            return;
        }
        self.limit = (self.limit / 2).max(1);
        self.calm_until = Some(now + latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_low_and_doubles_until_the_first_throttling() {
        let mut c = Concurrency::new(32);
        assert_eq!(c.limit(), START);
        // A round trip is `limit` writes coming back clean.
        let mut rounds = 0;
        while c.limit() < 32 {
            for _ in 0..c.limit() {
                c.on_clean();
            }
            rounds += 1;
        }
        assert_eq!(rounds, 4, "2, 4, 8, 16, 32");
        assert_eq!(Concurrency::new(1).limit(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn halves_on_throttling_once_per_round_trip_and_climbs_back() {
        let mut c = Concurrency::new(16);
        for _ in 0..30 {
            c.on_clean();
        }
        assert_eq!(c.limit(), 16);
        let rtt = Duration::from_millis(20);
        let now = Instant::now();
        c.on_throttled(now, rtt);
        assert_eq!(c.limit(), 8);
        c.on_throttled(now + Duration::from_millis(5), rtt);
        assert_eq!(
            c.limit(),
            8,
            "writes already in flight do not halve it again"
        );
        c.on_throttled(now + Duration::from_millis(25), rtt);
        assert_eq!(c.limit(), 4);
        for _ in 0..4 {
            c.on_clean();
        }
        assert_eq!(c.limit(), 5);
        for _ in 0..1000 {
            c.on_clean();
        }
        assert_eq!(c.limit(), 16, "never above the ceiling");
    }

    #[tokio::test(start_paused = true)]
    async fn never_below_one() {
        let mut c = Concurrency::new(2);
        let mut now = Instant::now();
        for _ in 0..10 {
            now += Duration::from_secs(1);
            c.on_throttled(now, Duration::from_millis(1));
        }
        assert_eq!(c.limit(), 1);
        assert_eq!(Concurrency::new(0).limit(), 1);
    }
}
