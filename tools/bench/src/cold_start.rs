//! Cold start: a function binary is started against a minimal Lambda Runtime API (the HTTP
//! protocol Lambda serves to `provided.al2023` functions), handed one event, and timed from process
//! start to its first request for work (init) and to its answer (first event handled).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::http::Reply;

const REQUEST_ID: &str = "cold-start-probe-1";

#[derive(Default)]
struct Timeline {
    started: Option<Instant>,
    first_next: Option<Instant>,
    answered: Option<(Instant, bool, String)>,
    event_sent: bool,
}

struct Probe {
    event: Bytes,
    timeline: Mutex<Timeline>,
    done: Notify,
}

/// One cold start's figures.
pub struct ColdStart {
    pub init: Duration,
    pub first_event: Duration,
}

/// Starts `command` as a fresh process and times its first invocation of `event`.
pub async fn measure(command: &[String], event: Vec<u8>) -> anyhow::Result<ColdStart> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let probe = Arc::new(Probe {
        event: Bytes::from(event),
        timeline: Mutex::new(Timeline::default()),
        done: Notify::new(),
    });
    let server = tokio::spawn(serve(Arc::clone(&probe), listener));

    let (program, args) = command.split_first().context("no command to start")?;
    let mut child = tokio::process::Command::new(program);
    child
        .args(args)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start-probe")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cold-start-probe")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "probe")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    probe.timeline.lock().expect("timeline").started = Some(Instant::now());
    let mut child = child
        .spawn()
        .with_context(|| format!("starting {program}"))?;

    let waited = tokio::time::timeout(Duration::from_secs(30), probe.done.notified()).await;
    child.kill().await.ok();
    server.abort();
    if waited.is_err() {
        bail!("{program} did not answer its first event within 30 s");
    }
    let timeline = probe.timeline.lock().expect("timeline");
    let started = timeline.started.expect("started");
    let Some((answered, ok, body)) = &timeline.answered else {
        bail!("no answer recorded");
    };
    if !ok {
        bail!("the first event failed: {body}");
    }
    Ok(ColdStart {
        init: timeline.first_next.unwrap_or(*answered) - started,
        first_event: *answered - started,
    })
}

async fn serve(probe: Arc<Probe>, listener: TcpListener) -> std::io::Result<()> {
    crate::http::serve(listener, move |request| {
        runtime_api(Arc::clone(&probe), request)
    })
    .await
}

async fn runtime_api(probe: Arc<Probe>, request: Request<Incoming>) -> Reply {
    let now = Instant::now();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();

    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let send_event = {
            let mut timeline = probe.timeline.lock().expect("timeline");
            timeline.first_next.get_or_insert(now);
            !std::mem::replace(&mut timeline.event_sent, true)
        };
        if !send_event {
            // One event per process: the next poll waits until the probe kills it.
            std::future::pending::<()>().await;
        }
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
        let response = Response::builder()
            .header("lambda-runtime-aws-request-id", REQUEST_ID)
            .header(
                "lambda-runtime-deadline-ms",
                deadline_ms.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:cold-start-probe",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(probe.event.clone()))
            .expect("response");
        return Ok(response);
    }
    let outcome = if path.ends_with("/response") {
        Some(true)
    } else if path.ends_with("/error") {
        Some(false)
    } else {
        None
    };
    if let Some(ok) = outcome {
        probe.timeline.lock().expect("timeline").answered = Some((now, ok, text));
        probe.done.notify_one();
    }
    let accepted = json!({"status": "OK"});
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::from(accepted.to_string())))
        .expect("response"))
}

/// Runs `runs` cold starts and returns their figures as JSON, with the medians.
pub async fn measure_runs(
    command: &[String],
    event: Vec<u8>,
    runs: usize,
) -> anyhow::Result<Value> {
    let mut init = Vec::new();
    let mut first_event = Vec::new();
    for _ in 0..runs.max(1) {
        let run = measure(command, event.clone()).await?;
        init.push(run.init.as_secs_f64() * 1000.0);
        first_event.push(run.first_event.as_secs_f64() * 1000.0);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Ok(json!({
        "runs": runs,
        "init_ms": init.clone(),
        "first_event_ms": first_event.clone(),
        "median_init_ms": median(&mut init),
        "median_first_event_ms": median(&mut first_event),
    }))
}
