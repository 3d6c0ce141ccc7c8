//! The workspace's binaries as child processes, with their output kept for assertions.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `target/<profile>/<name>`, built by `cargo build --workspace --bins` (the test command does
/// that first).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (./scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running child whose stdout and stderr lines are collected.
pub struct Running {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn spawn(name: &str, args: &[&str], env: &[(String, String)]) -> Self {
        let mut command = Command::new(binary(name));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            collect(BufReader::new(out), lines.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(BufReader::new(err), lines.clone());
        }
        Self { child, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits for a line containing `needle`; returns it.
    pub async fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no line with {needle:?}; output so far:\n{}", self.lines().join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn collect<R>(reader: BufReader<R>, into: Arc<Mutex<Vec<String>>>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = reader.lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut all) = into.lock() {
                all.push(line);
            }
        }
    });
}

/// Runs a binary to completion; returns (success, stdout + stderr).
pub async fn run(name: &str, args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let output = Command::new(binary(name))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Creates an enabled account whose `password` needs no change, in `table` on DynamoDB, with
/// the e2e crate's `portal-fixture` (`env` points it at the emulator). Panics if it fails.
pub async fn create_fixture_account(
    env: &[(String, String)],
    data_dir: &str,
    table: &str,
    account: [&str; 3],
    password: &str,
) {
    let [username, name, mobile] = account;
    let mut env = env.to_vec();
    env.push(("PORTAL_NEW_PASSWORD".into(), password.into()));
    let (ok, output) = run(
        "portal-fixture",
        &[
            "--data-dir",
            data_dir,
            "--store",
            "dynamodb",
            "--table",
            table,
            "create-account",
            "--username",
            username,
            "--name",
            name,
            "--mobile",
            mobile,
        ],
        &env,
    )
    .await;
    assert!(ok, "portal-fixture create-account: {output}");
}
