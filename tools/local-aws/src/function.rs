//! A function run through the real Lambda runtime: `cargo lambda watch` serves the Runtime API on a
//! free port, the function's binary polls it, and `cargo lambda invoke --data-file` sends events.
//! Registered with the local AWS under a name, it also answers Lambda `Invoke`s of that name there
//! (a state machine's Lambda tasks).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{LocalAws, venv_bin, workspace_root};

/// Kills a child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct LocalFunction {
    port: u16,
    /// The binary's name, which is the function's folder of `events/`.
    name: String,
    /// What each of the function's processes wrote on stdout: its log records and metric records.
    /// One file each, as Lambda keeps one log stream per instance: a line longer than a write
    /// from two processes into one file could interleave.
    stdout: Vec<tempfile::NamedTempFile>,
    /// The local AWS (its endpoint) and name of each `register`, undone on drop.
    registered: Mutex<Vec<(String, String)>>,
    // Dropped function processes first, then the runtime API they poll.
    _processes: Vec<Running>,
    _watch: Running,
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

impl Drop for LocalFunction {
    fn drop(&mut self) {
        let registered = self.registered.get_mut().map(std::mem::take);
        for (endpoint, name) in registered.unwrap_or_default() {
            let path = format!("/_local/functions/{name}");
            // The server may be gone already; nothing is left to undo then.
            let _ = crate::local_request(&endpoint, "DELETE", &path, &Value::Null);
        }
    }
}

impl LocalFunction {
    /// Starts `binary` (a function built by cargo) with `env`, pointed at `aws`.
    pub fn start(binary: &Path, aws: &LocalAws, env: &[(&str, &str)]) -> LocalFunction {
        LocalFunction::start_instances(binary, aws, env, 1)
    }

    /// Like `start`, with `instances` processes of the function polling the same runtime API, so
    /// that many invocations run at once (as Lambda scales out).
    pub fn start_instances(
        binary: &Path,
        aws: &LocalAws,
        env: &[(&str, &str)],
        instances: usize,
    ) -> LocalFunction {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cargo lambda watch did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let stdout: Vec<tempfile::NamedTempFile> = (0..instances.max(1))
            .map(|_| tempfile::NamedTempFile::new().expect("a file for the function's stdout"))
            .collect();
        let start_instance = |file: &tempfile::NamedTempFile| {
            let out = file.reopen().expect("the function's stdout file");
            Running(
                Command::new(binary)
                    .envs(aws.env())
                    .env(
                        "AWS_LAMBDA_RUNTIME_API",
                        format!("http://127.0.0.1:{port}/.rt"),
                    )
                    .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                    .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
                    .envs(env.iter().copied())
                    .stdout(out)
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display())),
            )
        };
        let processes = stdout.iter().map(start_instance).collect();
        LocalFunction {
            port,
            name: (binary.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default(),
            stdout,
            registered: Mutex::new(Vec::new()),
            _processes: processes,
            _watch: watch,
        }
    }

    /// Registers the function with `aws` under `name`: Lambda `Invoke` of `name` (or of its ARN,
    /// `function_arn(name)`, which this returns) there reaches this function, a function error
    /// answered as Lambda does (`X-Amz-Function-Error`), so a state machine's Retry and Catch see
    /// the function's `errorType`. Undone when the function is dropped.
    pub fn register(&self, aws: &LocalAws, name: &str) -> String {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name:?} is not a Lambda function name"
        );
        let endpoint = serde_json::json!({"endpoint": format!("http://127.0.0.1:{}", self.port)});
        crate::local_request(
            aws.endpoint(),
            "POST",
            &format!("/_local/functions/{name}"),
            &endpoint,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut registered = self.registered.lock().expect("registrations");
        registered.push((aws.endpoint().to_string(), name.to_string()));
        crate::function_arn(name)
    }

    /// Every JSON line the function wrote on stdout so far (log records and metric records).
    pub fn stdout_records(&self) -> Vec<Value> {
        let texts: Vec<String> = (self.stdout.iter())
            .map(|file| std::fs::read_to_string(file.path()).unwrap_or_default())
            .collect();
        (texts.iter().flat_map(|text| text.lines()))
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The embedded-metric-format records the function wrote: raw top-level lines with `_aws`.
    pub fn metric_records(&self) -> Vec<Value> {
        let records = self.stdout_records().into_iter();
        records.filter(|r| r.get("_aws").is_some()).collect()
    }

    /// `cargo lambda invoke --data-file events/<function>/<event>` (or another function's event
    /// of that name, see `event_file`).
    pub fn invoke(&self, event: &str) -> Output {
        self.invoke_file(&crate::event_file(event, &[self.name.as_str()]))
    }

    /// `cargo lambda invoke --data-file <file>`.
    pub fn invoke_file(&self, file: &Path) -> Output {
        assert!(file.exists(), "{} is missing", file.display());
        cargo_lambda()
            .args(["invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args(["--output-format", "json", "--data-file"])
            .arg(file)
            .output()
            .expect("running cargo lambda invoke")
    }

    /// The function's response to `events/<event>`, which must succeed.
    pub fn response(&self, event: &str) -> Value {
        let output = self.invoke(event);
        assert!(
            output.status.success(),
            "{event}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{event}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
    }

    /// The error `events/<event>` must end in: what `cargo lambda invoke` printed.
    pub fn error(&self, event: &str) -> String {
        let output = self.invoke(event);
        assert!(!output.status.success(), "{event} must fail the invocation");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}
