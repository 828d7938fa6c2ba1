//! Writing batches with several `BatchWriteItem` calls in flight, retrying what DynamoDB did not take.
//!
//! Throttled items come back in `UnprocessedItems` with HTTP 200, which the SDK does not retry; they
//! are retried here with bounded, jittered backoff that stops before the deadline. Every item ends
//! one of three ways: written; refused by DynamoDB for itself (a reject, with DynamoDB's reason); or
//! unwritten for lack of time or capacity, handed back to the caller to write again later. An item
//! is never dropped.
//!
//! Longer than 500 lines because the writer (batches side by side, paced) and one batch's calls
//! (`BatchCalls`, retried) share their settings and outcome, and each is only read with the other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::aws_error::{ErrorClass, classify, describe};
use crate::load::read::keys::{ItemKey, KeySchema};
use crate::load::write::batch::PendingItem;
use crate::load::write::concurrency::Concurrency;
use crate::load::write::gate::{GateAnswer, WriteGate};
use crate::retry::Backoff;

#[derive(Debug, Clone, Copy)]
pub struct WriteSettings {
    /// `BatchWriteItem` calls in flight at once, at most.
    pub max_in_flight: usize,
    /// Calls in a row that write nothing before a batch's remaining items are handed back.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// How long one call may take before it is abandoned and tried again.
    pub call_timeout: Duration,
    /// Items per second this load may write, retries included; `None`: as fast as the table takes.
    pub max_items_per_second: Option<f64>,
}

impl WriteSettings {
    /// One part's share of a load's limits, so that `of` parts writing at once keep to what the
    /// operator set for the load.
    pub fn shared_by(self, of: u32) -> WriteSettings {
        let of = of.max(1);
        WriteSettings {
            max_in_flight: (self.max_in_flight / of as usize).max(1),
            max_items_per_second: self.max_items_per_second.map(|r| r / f64::from(of)),
            ..self
        }
    }
}

impl Default for WriteSettings {
    fn default() -> Self {
        WriteSettings {
            // Enough for a large table at DynamoDB's round-trip times (40,000 WCU at 10 ms is 16
            // calls of 25); a small table throttles it down within a few round trips.
            max_in_flight: 32,
            max_attempts: 10,
            backoff: Backoff::default(),
            call_timeout: Duration::from_secs(10),
            max_items_per_second: None,
        }
    }
}

/// A row DynamoDB would not take, and why.
#[derive(Debug, Clone)]
pub struct FailedItem {
    pub item: PendingItem,
    pub reason: String,
}

/// What the writer did, once every batch has finished.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub written: u64,
    /// Refused by DynamoDB for the item alone (validation, item collection size): rejects. The
    /// caller takes them as they come (`BatchWriter::take_refused`), so they never pile up.
    pub refused: Vec<FailedItem>,
    /// Not written for lack of time or capacity (or after an unrecoverable error): to be written
    /// again, from the earliest of them.
    pub unwritten: Vec<PendingItem>,
    /// Why the last unwritten item was not written.
    pub unwritten_reason: Option<String>,
    /// An error no retry can fix (table missing, access denied): writing stopped.
    pub fatal: Option<String>,
    /// Items not sent because a newer load of the object holds it now: its values win.
    pub superseded: u64,
    /// How many writes were allowed in flight at the end (it adapts to throttling).
    pub in_flight_limit: usize,
}

/// How one batch's writing went, for the concurrency limit.
struct BatchSignal {
    throttled: bool,
    /// The first call's round trip.
    latency: Duration,
}

/// Spaces calls so the load writes at most so many items per second.
struct Pace {
    per_item: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    async fn wait(&self, items: usize) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.per_item * items as u32;
            slot
        };
        sleep_until(slot).await;
    }
}

struct Shared {
    client: Client,
    table: String,
    keys: KeySchema,
    settings: WriteSettings,
    deadline: Instant,
    pace: Option<Pace>,
    gate: Option<Arc<dyn WriteGate>>,
}

/// Keeps several batches being written at once: up to `max_in_flight`, fewer while DynamoDB throttles.
pub struct BatchWriter {
    shared: Arc<Shared>,
    tasks: JoinSet<(Vec<ItemKey>, WriteOutcome, BatchSignal)>,
    concurrency: Concurrency,
    /// Keys of batches in flight: a batch repeating one waits, so the later row lands last.
    keys_in_flight: HashMap<ItemKey, u32>,
    outcome: WriteOutcome,
}

impl BatchWriter {
    /// `deadline`: no retry is started that would end after it.
    pub fn new(
        client: Client,
        table: String,
        keys: KeySchema,
        settings: WriteSettings,
        deadline: Instant,
    ) -> Self {
        let pace = (settings.max_items_per_second)
            .filter(|rate| *rate > 0.0)
            .map(|rate| Pace {
                per_item: Duration::from_secs_f64(1.0 / rate),
                next: Mutex::new(Instant::now()),
            });
        BatchWriter {
            shared: Arc::new(Shared {
                client,
                table,
                keys,
                settings,
                deadline,
                pace,
                gate: None,
            }),
            tasks: JoinSet::new(),
            concurrency: Concurrency::new(settings.max_in_flight),
            keys_in_flight: HashMap::new(),
            outcome: WriteOutcome::default(),
        }
    }

    /// Asks `gate` before every call; nothing more is sent once it says no.
    pub fn with_gate(mut self, gate: Option<Arc<dyn WriteGate>>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.gate = gate;
        }
        self
    }

    /// True once a newer load holds the object: the caller should stop reading.
    pub fn superseded(&self) -> bool {
        self.outcome.superseded > 0
    }

    /// Batches being written now.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Items written so far.
    pub fn written(&self) -> u64 {
        self.outcome.written
    }

    /// Set once an unrecoverable error was seen; the caller should stop reading.
    pub fn fatal(&self) -> Option<&str> {
        self.outcome.fatal.as_deref()
    }

    /// True once an item was handed back unwritten: the caller should stop reading and hand over.
    /// Batches submitted after that are handed back unsent, so no later row of a key lands before
    /// an earlier one that is still to be written.
    pub fn gave_up(&self) -> bool {
        !self.outcome.unwritten.is_empty()
    }

    /// The items DynamoDB refused since the last call, for the report.
    pub fn take_refused(&mut self) -> Vec<FailedItem> {
        std::mem::take(&mut self.outcome.refused)
    }

    /// Starts writing `batch`, first waiting for room and for in-flight batches sharing a key.
    pub async fn submit(&mut self, batch: Vec<PendingItem>) {
        while self.tasks.len() >= self.concurrency.limit()
            || batch
                .iter()
                .any(|p| self.keys_in_flight.contains_key(&p.key))
        {
            if !self.join_one().await {
                break;
            }
        }
        if self.superseded() {
            self.outcome.superseded += batch.len() as u64;
            return;
        }
        if self.gave_up() || self.outcome.fatal.is_some() {
            self.outcome.unwritten.extend(batch);
            return;
        }
        let keys: Vec<ItemKey> = batch.iter().map(|p| p.key.clone()).collect();
        for key in &keys {
            *self.keys_in_flight.entry(key.clone()).or_default() += 1;
        }
        let shared = Arc::clone(&self.shared);
        self.tasks.spawn(async move {
            let (outcome, signal) = write_batch(&shared, batch).await;
            (keys, outcome, signal)
        });
    }

    /// Waits for every batch and returns the totals.
    pub async fn finish(&mut self) -> WriteOutcome {
        while self.join_one().await {}
        self.outcome.in_flight_limit = self.concurrency.limit();
        std::mem::take(&mut self.outcome)
    }

    async fn join_one(&mut self) -> bool {
        let Some(joined) = self.tasks.join_next().await else {
            return false;
        };
        match joined {
            Ok((keys, outcome, signal)) => {
                if signal.throttled {
                    self.concurrency
                        .on_throttled(Instant::now(), signal.latency);
                } else {
                    self.concurrency.on_clean();
                }
                for key in keys {
                    if let Some(n) = self.keys_in_flight.get_mut(&key) {
                        *n -= 1;
                        if *n == 0 {
                            self.keys_in_flight.remove(&key);
                        }
                    }
                }
                self.outcome.merge(outcome);
            }
            // A panicking write task loses track of its rows: treat it as unrecoverable.
            Err(e) => {
                self.outcome.fatal = Some(format!("a write task failed: {e}"));
                self.keys_in_flight.clear();
            }
        }
        true
    }
}

fn to_requests(items: &[PendingItem]) -> Result<Vec<WriteRequest>, String> {
    items
        .iter()
        .map(|p| {
            PutRequest::builder()
                .set_item(Some(p.item.clone()))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Writes one batch until every item is written or refused, the calls stop making progress, or the
/// deadline nears.
async fn write_batch(shared: &Shared, batch: Vec<PendingItem>) -> (WriteOutcome, BatchSignal) {
    let mut calls = BatchCalls {
        shared,
        pending: batch,
        requests: Vec::new(),
        outcome: WriteOutcome::default(),
        signal: BatchSignal {
            throttled: false,
            latency: Duration::ZERO,
        },
        calls: 0,
        fruitless: 0,
    };
    while !calls.pending.is_empty() {
        if !calls.build_requests() || !calls.may_send().await {
            break;
        }
        let problem = match calls.send().await {
            Answer::Settled => break,
            Answer::Retry(problem) => problem,
        };
        if !calls.back_off(problem).await {
            break;
        }
    }
    (calls.outcome, calls.signal)
}

/// One batch's calls, retried until its items are settled.
struct BatchCalls<'a> {
    shared: &'a Shared,
    pending: Vec<PendingItem>,
    /// Built once; a retry sends what DynamoDB handed back unprocessed, and only a call that failed
    /// outright rebuilds them from `pending`.
    requests: Vec<WriteRequest>,
    outcome: WriteOutcome,
    signal: BatchSignal,
    calls: u32,
    /// Calls in a row that wrote nothing: only these use up `max_attempts`.
    fruitless: u32,
}

/// What a call left to do.
enum Answer {
    /// Every item is written, refused, or handed back: nothing to retry.
    Settled,
    /// Some items are still to be written, for this reason.
    Retry(String),
}

impl BatchCalls<'_> {
    /// False when the items cannot even be put in a request (they are refused).
    fn build_requests(&mut self) -> bool {
        if !self.requests.is_empty() {
            return true;
        }
        match to_requests(&self.pending) {
            Ok(built) => self.requests = built,
            Err(e) => {
                let reason = format!("could not build the request: {e}");
                self.outcome.refuse_all(&mut self.pending, &reason);
            }
        }
        !self.pending.is_empty()
    }

    /// Waits for the pace, then asks the gate: false once the items are not to be sent.
    async fn may_send(&mut self) -> bool {
        if let Some(pace) = &self.shared.pace {
            pace.wait(self.pending.len()).await;
        }
        let Some(gate) = &self.shared.gate else {
            return true;
        };
        match gate.may_write().await {
            GateAnswer::Write => return true,
            GateAnswer::Stop => {
                self.outcome.superseded += self.pending.len() as u64;
                self.pending.clear();
            }
            GateAnswer::Unsure(e) => {
                // Not written, not lost: the load's next step asks again and writes them.
                let reason = format!("could not tell whether a newer load holds the object: {e}");
                self.outcome.hand_back(&mut self.pending, reason);
            }
            GateAnswer::Broken(reason) => {
                self.outcome
                    .hand_back(&mut self.pending, format!("not written: {reason}"));
                self.outcome.fatal = Some(reason);
            }
        }
        false
    }

    async fn send(&mut self) -> Answer {
        self.calls += 1;
        let shared = self.shared;
        let started = Instant::now();
        let call = (shared.client.batch_write_item())
            .request_items(&shared.table, std::mem::take(&mut self.requests))
            .customize()
            // Retries are ours: the SDK's would not see UnprocessedItems, nor our deadline.
            .config_override(
                aws_sdk_dynamodb::config::Config::builder().retry_config(RetryConfig::disabled()),
            )
            .send();
        let sent = timeout(shared.settings.call_timeout, call).await;
        if self.calls == 1 {
            self.signal.latency = started.elapsed();
        }
        let before = self.pending.len();
        let answer = match sent {
            Err(_) => {
                self.signal.throttled = true;
                let limit = shared.settings.call_timeout;
                Answer::Retry(format!("no answer within {limit:?}"))
            }
            Ok(Ok(output)) => self.take_unprocessed(output.unprocessed_items),
            Ok(Err(err)) => self.take_error(&err).await,
        };
        self.fruitless = if self.pending.len() < before {
            0
        } else {
            self.fruitless + 1
        };
        answer
    }

    /// Counts what DynamoDB wrote and keeps what it handed back, to send again.
    fn take_unprocessed(
        &mut self,
        unprocessed: Option<HashMap<String, Vec<WriteRequest>>>,
    ) -> Answer {
        // Keyed by the table's name or ARN, as the request named it: read them all.
        let unprocessed: Vec<WriteRequest> = unprocessed
            .unwrap_or_default()
            .into_values()
            .flatten()
            .collect();
        if unprocessed.is_empty() {
            self.outcome.written += self.pending.len() as u64;
            self.pending.clear();
            return Answer::Settled;
        }
        let left: Vec<ItemKey> = (unprocessed.iter())
            .filter_map(|w| w.put_request())
            .filter_map(|put| self.shared.keys.key_of(put.item()))
            .collect();
        let still = self
            .pending
            .iter()
            .filter(|p| left.contains(&p.key))
            .count();
        // Only count items as written when every unprocessed one is identified; otherwise resend
        // the lot (puts are idempotent).
        if still == unprocessed.len() {
            let before = self.pending.len();
            self.pending.retain(|p| left.contains(&p.key));
            self.outcome.written += (before - self.pending.len()) as u64;
            self.requests = unprocessed;
        }
        self.signal.throttled = true;
        Answer::Retry(format!(
            "{} items unprocessed (throttled)",
            self.pending.len()
        ))
    }

    async fn take_error(&mut self, err: &SdkError<BatchWriteItemError>) -> Answer {
        match classify(err) {
            ErrorClass::Retryable => {
                self.signal.throttled = true;
                return Answer::Retry(describe(err));
            }
            ErrorClass::Invalid if self.pending.len() > 1 => {
                // One item spoils the whole call: write them one by one to find it.
                for item in std::mem::take(&mut self.pending) {
                    let (single, signal) = Box::pin(write_batch(self.shared, vec![item])).await;
                    self.signal.throttled |= signal.throttled;
                    self.outcome.merge(single);
                }
            }
            ErrorClass::Invalid => {
                let reason = format!("refused by DynamoDB: {}", describe(err));
                self.outcome.refuse_all(&mut self.pending, &reason);
            }
            ErrorClass::Fatal => {
                let reason = describe(err);
                let unwritten = format!("not written: {reason}");
                self.outcome.hand_back(&mut self.pending, unwritten);
                self.outcome.fatal = Some(reason);
            }
        }
        Answer::Settled
    }

    /// Waits before the next call; false (the items handed back) when the calls stopped making
    /// progress or the deadline is too near.
    async fn back_off(&mut self, problem: String) -> bool {
        let settings = self.shared.settings;
        if self.fruitless >= settings.max_attempts {
            let reason = format!("{} calls in a row wrote nothing: {problem}", self.fruitless);
            self.outcome.hand_back(&mut self.pending, reason);
            return false;
        }
        let delay = settings.backoff.delay(self.fruitless.max(1));
        if Instant::now() + delay >= self.shared.deadline {
            let reason = format!("not written before the time limit: {problem}");
            self.outcome.hand_back(&mut self.pending, reason);
            return false;
        }
        sleep(delay).await;
        true
    }
}

impl WriteOutcome {
    fn refuse_all(&mut self, pending: &mut Vec<PendingItem>, reason: &str) {
        self.refused
            .extend(pending.drain(..).map(|item| FailedItem {
                item,
                reason: reason.to_string(),
            }));
    }

    fn hand_back(&mut self, pending: &mut Vec<PendingItem>, reason: String) {
        self.unwritten.append(pending);
        self.unwritten_reason = Some(reason);
    }

    fn merge(&mut self, other: WriteOutcome) {
        self.written += other.written;
        self.refused.extend(other.refused);
        self.unwritten.extend(other.unwritten);
        if other.unwritten_reason.is_some() {
            self.unwritten_reason = other.unwritten_reason;
        }
        if self.fatal.is_none() {
            self.fatal = other.fatal;
        }
        self.superseded += other.superseded;
    }
}
