//! Lambda deadlines: the invocation's deadline as an `Instant`, and the point before it where work
//! pauses to hand over.

/// The Lambda deadline (epoch milliseconds, from the invocation context) as an `Instant`.
///
/// `cargo lambda watch` sends the time left (600000) instead of an epoch time; a value too small to
/// be an epoch time (before 2001) is read as milliseconds left, so local runs behave like Lambda.
pub fn deadline_instant(deadline_ms: u64) -> tokio::time::Instant {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left_ms = if deadline_ms < YEAR_2001_MS {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms)
    };
    tokio::time::Instant::now() + std::time::Duration::from_millis(left_ms)
}

/// `reserve` before `deadline`, but never more than half the time left now, so that even a short
/// function timeout gets work done.
pub fn before_deadline(
    deadline: tokio::time::Instant,
    reserve: std::time::Duration,
) -> tokio::time::Instant {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    deadline - reserve.min(left / 2)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_are_epoch_times_or_time_left() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let in_a_minute = deadline_instant(now_ms + 60_000) - Instant::now();
        assert!(in_a_minute <= Duration::from_secs(60) && in_a_minute > Duration::from_secs(59));
        assert_eq!(
            deadline_instant(600_000) - Instant::now(),
            Duration::from_secs(600)
        );
        assert_eq!(deadline_instant(now_ms - 5_000), Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn the_reserve_never_takes_more_than_half_the_time_left() {
        let now = Instant::now();
        let reserve = Duration::from_secs(30);
        let long = now + Duration::from_secs(900);
        assert_eq!(before_deadline(long, reserve), long - reserve);
        let short = now + Duration::from_secs(10);
        assert_eq!(
            before_deadline(short, reserve),
            now + Duration::from_secs(5)
        );
        let past = now - Duration::from_secs(1);
        assert_eq!(before_deadline(past, reserve), past);
    }
}
