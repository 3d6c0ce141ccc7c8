//! Harness for the end-to-end tests: starts the real `portal-local` binary on a free port with
//! a fresh data dir, drives `portal-admin` against the same data, and reads SMS codes the way a
//! user would (from the local outbox).
//!
//! With `E2E_BACKEND=aws` the same tests run on DynamoDB and SNS in the AWS emulator
//! (see [`backend`]).
//!
//! Binaries come from `PORTAL_BIN_DIR`, else the workspace's `target/debug` (the test command
//! builds them first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

pub mod buypass;
pub mod interop_provider;
pub mod stub_provider;
use serde_json::Value;

pub mod backend;
pub mod client;

pub use client::{parts, wrong_code, Challenge, Problem, Session};

use backend::{AwsData, Backend};

pub const PASSWORD: &str = "korrekt hest batteri stift";

pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PORTAL_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("debug").join(name)
}

/// How to start a `portal-local`: which backend, which data, which options. Every way the
/// tests start the portal goes through here, so a changed command line is fixed in one place.
#[derive(Debug, Clone, Default)]
pub struct PortalBuilder {
    backend: Option<Backend>,
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    sms_outbox: bool,
}

impl PortalBuilder {
    /// This backend whatever `E2E_BACKEND` says (default: `E2E_BACKEND`).
    pub fn backend(mut self, backend: &Backend) -> Self {
        self.backend = Some(backend.clone());
        self
    }

    /// An existing data dir (a second process on the same data); default: a fresh one, removed
    /// when the portal is dropped.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// SMS go to the portal's own outbox (`/dev/sms`) on every backend, not to SNS in the
    /// emulator.
    pub fn sms_outbox(mut self) -> Self {
        self.sms_outbox = true;
        self
    }

    /// The key the gateway stand-in (`/dev/gateway`) expects.
    pub fn gateway_key(self, key: &str) -> Self {
        self.args(&["--gateway-key", key])
    }

    /// Buypass is this OpenID provider instead of the built-in stand-in; `ca` is the CA
    /// bundle its certificates chain to (default: the portal's own test CA).
    pub fn buypass_provider(self, issuer: &str, client_id: &str, ca: Option<&str>) -> Self {
        let with_issuer = self.args(&["--buypass-issuer", issuer, "--buypass-client-id", client_id]);
        match ca {
            Some(ca) => with_issuer.args(&["--buypass-ca", ca]),
            None => with_issuer,
        }
    }

    /// Further `portal-local` options.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// A variable in the portal's environment.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn start(self) -> Result<Portal> {
        let backend = match &self.backend {
            Some(backend) => backend.clone(),
            None => Backend::from_env()?,
        };
        let (data_dir, owned_dir) = match &self.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let dir = tempfile::tempdir()?;
                (dir.path().to_owned(), Some(dir))
            }
        };
        let mut portal = Portal::spawn(PortalBuilder {
            backend: Some(backend),
            data_dir: Some(data_dir),
            ..self
        })?;
        portal._owned_dir = owned_dir;
        Ok(portal)
    }
}

/// A running `portal-local`; killed when dropped.
pub struct Portal {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _owned_dir: Option<tempfile::TempDir>,
    /// How it was started, for [`Portal::start_again`]; backend and data dir filled in.
    launch: PortalBuilder,
    backend: Backend,
    /// Present when running on the AWS backends.
    aws: Option<AwsData>,
    /// SMS go to the portal's outbox (`/dev/sms`), not to SNS in the emulator.
    sms_outbox: bool,
    /// The device cookie of the login answers (issue 16), sent with every later login, as one
    /// browser would: logins through this handle are one known browser, not a new one each.
    pub device_cookie: std::sync::Mutex<Option<String>>,
}

impl Portal {
    pub fn builder() -> PortalBuilder {
        PortalBuilder::default()
    }

    /// A fresh portal on a new data dir, on the backend `E2E_BACKEND` names.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// Starts the process `launch` describes (its backend and data dir are set).
    fn spawn(launch: PortalBuilder) -> Result<Self> {
        let backend = launch.backend.clone().ok_or_else(|| anyhow!("no backend"))?;
        let data_dir = launch.data_dir.clone().ok_or_else(|| anyhow!("no data dir"))?;
        let aws = AwsData::for_data_dir(&backend, &data_dir)?;
        let mut command = Command::new(bin("portal-local"));
        command
            .args(["--port", "0", "--no-demo", "--data-dir"])
            .arg(&data_dir)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)));
        // On the AWS backends SMS go to SNS unless the caller chose the outbox.
        let sms_outbox = aws.is_none() || launch.sms_outbox;
        if let Some(aws) = &aws {
            command.args(aws.store_args());
            command.args(["--sms", if sms_outbox { "outbox" } else { "sns" }]);
        }
        backend.apply_env(&mut command);
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin("portal-local").display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // `E2E_PORTAL_LOGS=1` passes the portal's own output on, for debugging a failure.
        let echo = std::env::var_os("E2E_PORTAL_LOGS").is_some();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[portal-local] {line}");
                }
                if !sent {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        let _ = tx.send(addr.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .context("portal-local did not start listening")?;
        Ok(Self {
            child,
            base: format!("http://{addr}"),
            data_dir,
            _owned_dir: None,
            launch,
            backend,
            aws,
            sms_outbox,
            device_cookie: std::sync::Mutex::new(None),
        })
    }

    /// Stops this process (SIGKILL: no chance to tidy up) and starts a new one on the same data.
    pub fn restart(mut self) -> Result<Self> {
        self.kill();
        self.start_again()
    }

    /// SIGKILL, and wait until the process is gone; the data dir stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new process on this one's data dir, backend and arguments (after [`Portal::kill`]).
    pub fn start_again(mut self) -> Result<Self> {
        self.kill();
        let mut next = Self::spawn(self.launch.clone())?;
        next._owned_dir = self._owned_dir.take();
        Ok(next)
    }

    /// Where this portal keeps its records.
    pub fn aws(&self) -> Option<&AwsData> {
        self.aws.as_ref()
    }

    /// Whether SMS go to the portal's own outbox (`GET /dev/sms`).
    pub fn sms_outbox(&self) -> bool {
        self.sms_outbox
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs `portal-admin` on this portal's data; returns (success, stdout+stderr).
    pub fn admin(&self, args: &[&str]) -> Result<(bool, String)> {
        self.admin_command(args, &[])
    }

    fn admin_command(&self, args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String)> {
        let mut command = Command::new(bin("portal-admin"));
        command.envs(env.iter().copied());
        command.arg("--data-dir").arg(&self.data_dir);
        if let Some(aws) = &self.aws {
            // The gateway stand-in of portal-local reads the store's event log; in AWS the
            // serial-activation function would announce instead.
            command
                .args(aws.store_args())
                .args(["--sms", "sns", "--gateway-events", "local"]);
        }
        self.backend.apply_env(&mut command);
        let out = command.args(args).output().context("running portal-admin")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }

    /// Creates an enabled home-office account with [`PASSWORD`] as the user's own password
    /// (no change required), with the test crate's `portal-fixture`: `portal-admin` marks
    /// every password an operator gives as to be changed.
    pub fn create_user(&self, username: &str, mobile: &str) -> Result<()> {
        let mut command = Command::new(bin("portal-fixture"));
        command.arg("--data-dir").arg(&self.data_dir);
        if let Some(aws) = &self.aws {
            command.args(aws.store_args());
        }
        self.backend.apply_env(&mut command);
        let out = command
            .env("PORTAL_NEW_PASSWORD", PASSWORD)
            .args([
                "create-account",
                "--username",
                username,
                "--name",
                "Kari Nordmann",
                "--mobile",
                mobile,
                "--home-office",
            ])
            .output()
            .context("running portal-fixture")?;
        if !out.status.success() {
            bail!(
                "create-account failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Runs `portal-admin` with `env` added to its environment.
    pub fn admin_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String)> {
        self.admin_command(args, env)
    }

    /// The SMS outbox, newest first.
    pub async fn sms(&self) -> Result<Vec<Value>> {
        if let (Some(aws), false) = (&self.aws, self.sms_outbox) {
            return aws.sms().await;
        }
        let body: Value = reqwest::get(self.url("/dev/sms")).await?.json().await?;
        body.as_array().cloned().ok_or_else(|| anyhow!("outbox is not a list"))
    }

    /// The code in the newest SMS to `mobile`.
    pub async fn latest_code(&self, mobile: &str) -> Result<String> {
        for message in self.sms().await? {
            if message["to"] == mobile {
                let body = message["body"].as_str().unwrap_or_default();
                return extract_code(body).ok_or_else(|| anyhow!("no code in {body:?}"));
            }
        }
        bail!("no SMS to {mobile}")
    }

    /// What the store holds, as raw text (the SQLite file, or every DynamoDB item), for
    /// checks that secrets are never stored in clear.
    pub async fn stored_data(&self) -> Result<String> {
        match &self.aws {
            Some(aws) => aws.stored_items().await,
            None => Ok(String::from_utf8_lossy(&std::fs::read(self.data_dir.join("portal.db"))?).into_owned()),
        }
    }

    pub async fn sms_count_to(&self, mobile: &str) -> Result<usize> {
        Ok(self.sms().await?.iter().filter(|m| m["to"] == mobile).count())
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `portal-admin create-account` of `username` with these details (no password: the operator
/// tool generates one and texts it).
pub fn create_account_args<'a>(username: &'a str, name: &'a str, mobile: &'a str) -> Vec<&'a str> {
    vec![
        "create-account",
        "--username",
        username,
        "--name",
        name,
        "--mobile",
        mobile,
    ]
}

pub fn extract_code(body: &str) -> Option<String> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .map(str::to_owned)
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Makes wrong-password attempts until `failures` of them have been counted, waiting out the
/// backoff in between (`attempt` returns the response status and any `Retry-After`). With 8
/// failures the next attempt faces an 8-second wait, long enough that a loaded machine cannot
/// let it slip past before the test's next request.
pub async fn build_backoff<F, Fut>(failures: usize, failure_status: u16, mut attempt: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u16, Option<u64>)>>,
{
    let mut counted = 0;
    let started = Instant::now();
    while counted < failures {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "backoff never opened");
        match attempt().await? {
            (status, _) if status == failure_status => counted += 1,
            (429, Some(wait)) => tokio::time::sleep(Duration::from_secs(wait)).await,
            (status, wait) => bail!("unexpected answer {status} (retry-after {wait:?}) after {counted} failures"),
        }
    }
    Ok(())
}

/// Status and `Retry-After` (seconds) of a response.
pub fn status_and_retry_after(response: &reqwest::Response) -> (u16, Option<u64>) {
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (response.status().as_u16(), retry)
}
