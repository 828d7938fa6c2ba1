//! Bounded, jittered exponential backoff.

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::aws_error::{ErrorClass, classify, describe};

/// Exponential backoff with "equal jitter": half the step is fixed, half random, so retries spread out
/// but never come back instantly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How hard to try one call: its backoff, its attempts, and the deadline no wait may pass.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub backoff: Backoff,
    pub max_attempts: u32,
    pub deadline: Instant,
}

impl Retry {
    pub async fn call<T, E, F, Fut>(&self, call: F) -> Result<T, SdkError<E, Response>>
    where
        E: ProvideErrorMetadata,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, Response>>>,
    {
        with_retries(self.backoff, self.max_attempts, self.deadline, call).await
    }
}

/// Calls `call` until it succeeds, fails in a way retrying cannot fix, has been tried `max_attempts`
/// times, or the next wait would pass `deadline`; returns the last result.
pub async fn with_retries<T, E, F, Fut>(
    backoff: Backoff,
    max_attempts: u32,
    deadline: Instant,
    mut call: F,
) -> Result<T, SdkError<E, Response>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, Response>>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match call().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let delay = backoff.delay(attempt);
        if classify(&err) != ErrorClass::Retryable
            || attempt >= max_attempts
            || Instant::now() + delay >= deadline
        {
            return Err(err);
        }
        tracing::warn!(attempt, error = %describe(&err), "retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        for attempt in 1..40 {
            let step = (Duration::from_millis(100) * 2u32.pow((attempt - 1).min(20)))
                .min(Duration::from_secs(2));
            let d = b.delay(attempt);
            assert!(
                d >= step / 2 && d <= step,
                "attempt {attempt}: {d:?} vs {step:?}"
            );
        }
    }

    #[test]
    fn delays_are_jittered() {
        let b = Backoff::default();
        let delays: std::collections::HashSet<_> = (0..20).map(|_| b.delay(6)).collect();
        assert!(delays.len() > 1);
    }
}
