//! The csv-loader through the real Lambda runtime: `cargo lambda watch` serves the Runtime API,
//! the function binary polls it, and `cargo lambda invoke --data-file events/...` sends the events.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use local_aws::{LocalAws, venv_bin, workspace_root};
use serde_json::Value;

const BUCKET: &str = "ddb-guard-demo";
const TABLE: &str = "order_transaction-demo";

/// Kills a child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cargo_lambda() -> Command {
    let bin = venv_bin();
    assert!(
        bin.join("cargo-lambda").exists(),
        "cargo-lambda is not installed in {}: run `tools/setup.sh`",
        bin.display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(bin.join("cargo-lambda"));
    command
        .arg("lambda")
        .env("PATH", path)
        .current_dir(workspace_root());
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cargo lambda watch` serving only the Runtime API, and the function binary attached to it.
fn start_function(aws: &LocalAws) -> (u16, Running, Running) {
    let port = free_port();
    let watch = Running(
        cargo_lambda()
            .args([
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cargo lambda watch"),
    );
    wait_for_port(port);
    let function = Running(
        Command::new(env!("CARGO_BIN_EXE_csv-loader"))
            .envs(aws.env())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("TABLE_NAME", TABLE)
            .env("BUCKET_NAME", BUCKET)
            .env("DEFAULT_OBJECT_KEY", "incoming/order_data.csv")
            .env("COLUMN_TYPES", "customer_id:N,amount:N")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the csv-loader binary"),
    );
    (port, watch, function)
}

fn invoke(port: u16, event: &str) -> Output {
    let file: PathBuf = workspace_root().join("events").join(event);
    assert!(file.exists(), "{} is missing", file.display());
    cargo_lambda()
        .args([
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .args(["--output-format", "json", "--data-file"])
        .arg(&file)
        .output()
        .expect("running cargo lambda invoke")
}

fn response(port: u16, event: &str) -> Value {
    let output = invoke(port, event);
    assert!(
        output.status.success(),
        "{event}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{event}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn events_run_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let s3 = aws.s3().await;
    let dynamodb = aws.dynamodb().await;
    local_aws::create_bucket(&s3, BUCKET).await.unwrap();
    local_aws::create_seed_table(&dynamodb, TABLE)
        .await
        .unwrap();
    let seed = std::fs::read(workspace_root().join("events/order_data.csv")).unwrap();
    for key in [
        "incoming/order_data.csv",
        "incoming/more orders/été 2026.csv",
    ] {
        local_aws::put_object(&s3, BUCKET, key, seed.clone())
            .await
            .unwrap();
    }
    let (port, _watch, _function) = start_function(aws);

    let put = response(port, "s3-put-order-data.json");
    assert_eq!(put["files"][0]["key"], "incoming/order_data.csv");
    assert_eq!(put["files"][0]["rows_read"], 40);
    assert_eq!(put["files"][0]["items_written"], 40);
    assert_eq!(put["files"][0]["rows_rejected"], 0);
    assert_eq!(put["files"][0]["complete"], true);
    assert_eq!(
        put["files"][0]["report"],
        format!("s3://{BUCKET}/rejected/incoming/order_data.csv.rejects.csv")
    );
    assert_eq!(
        local_aws::scan_all(&dynamodb, TABLE).await.unwrap().len(),
        40
    );

    let console = response(port, "console-test.json");
    assert_eq!(console["files"][0]["key"], "incoming/order_data.csv");
    assert_eq!(console["files"][0]["items_written"], 40);

    let explicit = response(port, "load-request.json");
    assert_eq!(explicit["files"][0]["items_written"], 40);

    let several = response(port, "s3-put-several.json");
    let keys: Vec<&str> = several["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "incoming/order_data.csv",
            "incoming/more orders/été 2026.csv"
        ]
    );
    assert_eq!(
        several["ignored"][0]["key"],
        "rejected/incoming/order_data.csv.rejects.csv"
    );

    let refused = invoke(port, "bad-request.json");
    assert!(
        !refused.status.success(),
        "a bad request must fail the invocation"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        said.contains("InvalidRequest") && said.contains("missing field `key`"),
        "{said}"
    );

    // The same table, loaded four times over: still the file's 40 items.
    assert_eq!(
        local_aws::scan_all(&dynamodb, TABLE).await.unwrap().len(),
        40
    );
}
