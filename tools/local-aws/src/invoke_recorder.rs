//! A stand-in for Lambda's `Invoke` API that accepts asynchronous invocations (HTTP 202) and keeps
//! their payloads, so a test can see what a function handed over and deliver it itself.
//! (The local AWS cannot run functions, and `cargo lambda watch` answers every invoke synchronously.)

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub struct InvokeRecorder {
    endpoint: String,
    payloads: Arc<Mutex<Vec<Value>>>,
}

impl InvokeRecorder {
    /// Listens on a free 127.0.0.1 port, within the current tokio runtime.
    pub async fn start() -> anyhow::Result<InvokeRecorder> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&payloads);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    // One request per pass: headers up to the blank line, then Content-Length bytes.
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(value) = lower.strip_prefix("content-length:") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        kept.lock().expect("payloads").push(payload);
                        let reply = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
                        if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(InvokeRecorder { endpoint, payloads })
    }

    /// For `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The payloads received so far, oldest first; they are not kept.
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.payloads.lock().expect("payloads"))
    }
}
