//! A second, independent OpenID provider for the Buypass journey: panva's `oidc-provider` from
//! npm (OpenID Certified), run by `tests/oidc-interop/provider.mjs` and set up like Buypass.
//! The stub provider is ours and says what we think the protocol is; this one is not, so a
//! journey through it shows the portal talks OpenID Connect as certified providers do.
//!
//! The test command installs it (`npm ci` in `tests/oidc-interop`) and sets
//! [`REQUIRED_ENV`]; under it, or under `CI=true`, a missing provider fails the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// Set (to anything but `0`) by `scripts/test.sh`: the interop provider must be there.
pub const REQUIRED_ENV: &str = "OIDC_INTEROP_REQUIRED";

/// Where the provider script and its pinned `node_modules` live.
pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-interop")
}

fn required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set(REQUIRED_ENV) || set("CI")
}

/// Why the provider cannot run here, if it cannot: `node` missing or `npm ci` not run.
fn missing() -> Option<String> {
    let dir = provider_dir();
    if !dir.join("node_modules/oidc-provider/package.json").is_file() {
        return Some(format!(
            "{} has no node_modules/oidc-provider (run `npm ci --prefix tests/oidc-interop`)",
            dir.display()
        ));
    }
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("`node` is not on PATH".into()),
    }
}

/// `Ok(true)` when the interop tests can run; `Ok(false)` (with a notice on stderr) when the
/// provider is missing on a developer's machine; an error when it is missing where it is
/// required.
pub fn available() -> Result<bool> {
    match missing() {
        None => Ok(true),
        Some(why) if required() => bail!("the OpenID interop provider is required here but missing: {why}"),
        Some(why) => {
            // Straight to stderr, past the test harness's capture: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: OpenID interop test skipped on this machine: {why}; the test command runs it"
            );
            Ok(false)
        }
    }
}

/// The running provider; killed when dropped.
pub struct InteropProvider {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: std::sync::mpsc::Receiver<String>,
    /// The provider's issuer URL (pass as `--buypass-issuer`).
    pub issuer: String,
}

impl Drop for InteropProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl InteropProvider {
    /// Starts the provider on a free loopback port. It serves nothing until [`Self::configure`].
    pub fn start() -> Result<Self> {
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node tests/oidc-interop/provider.mjs")?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut provider = Self {
            child,
            stdin,
            stdout: rx,
            issuer: String::new(),
        };
        let line = provider.next_line("issuer")?;
        provider.issuer = line
            .strip_prefix("issuer ")
            .ok_or_else(|| anyhow!("provider said {line:?}"))?
            .to_owned();
        Ok(provider)
    }

    fn next_line(&self, what: &str) -> Result<String> {
        self.stdout
            .recv_timeout(Duration::from_secs(30))
            .with_context(|| format!("the interop provider did not say {what}"))
    }

    /// Registers our client (its id, callback and public JWKS, as one registers a client with
    /// Buypass) and the cards: holder name → PEM login certificate.
    pub fn configure(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        client_jwks: &Value,
        accounts: &HashMap<String, String>,
    ) -> Result<()> {
        let setup = json!({
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "client_jwks": client_jwks,
            "accounts": accounts,
        });
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("already configured"))?;
        writeln!(stdin, "{setup}")?;
        stdin.flush()?;
        let line = self.next_line("ready")?;
        if line != "ready" {
            bail!("provider said {line:?}");
        }
        Ok(())
    }

    /// The claim names of each ID token the provider issued since the last call, oldest first.
    pub fn issued_id_tokens(&self) -> Vec<Vec<String>> {
        self.stdout
            .try_iter()
            .filter_map(|line| {
                let names = line.strip_prefix("id_token ")?;
                serde_json::from_str(names).ok()
            })
            .collect()
    }

    /// Plays the browser at the provider: follows the authorization URL to its login page, picks
    /// `method` (`sc`, `otp` or `cancel`) as `holder`, and follows the provider's redirects
    /// (keeping its cookies) until it sends the browser to `redirect_uri`. Returns that URL.
    pub async fn login(
        &self,
        authorization_url: &str,
        method: &str,
        holder: &str,
        redirect_uri: &str,
    ) -> Result<String> {
        let client = crate::buypass::browser();
        let mut jar = CookieJar::default();
        let mut url = reqwest::Url::parse(authorization_url)?;
        let mut response = jar.send(client.get(url.clone())).await?;
        let mut submitted = false;
        for _ in 0..10 {
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| anyhow!("redirect without Location"))?;
                url = url.join(location)?;
                if url.as_str().starts_with(redirect_uri) {
                    return Ok(url.to_string());
                }
                response = jar.send(client.get(url.clone())).await?;
                continue;
            }
            let body = response.text().await?;
            if status != 200 || submitted {
                bail!("provider answered {status} at {url}: {body}");
            }
            for text in [
                "Velg identifiseringsmetode",
                "Buypass ID på smartkort",
                "data-amr-hint=\"sc\"",
            ] {
                if !body.contains(text) {
                    bail!("login page lacks {text:?}: {body}");
                }
            }
            let action = url.join(&format!("{}/login", url.path()))?;
            response = jar
                .send(client.post(action).form(&[("method", method), ("holder", holder)]))
                .await?;
            submitted = true;
        }
        bail!("the provider never sent the browser back to {redirect_uri}")
    }
}

/// Just enough of a browser's cookie store for one provider on one host.
#[derive(Default)]
struct CookieJar(HashMap<String, String>);

impl CookieJar {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let header = self
            .0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if header.is_empty() {
            request
        } else {
            request.header("cookie", header)
        };
        let response = request.send().await?;
        for set in response.headers().get_all("set-cookie") {
            let Some(pair) = set.to_str().ok().and_then(|s| s.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = set
                .to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("expires=thu, 01 jan 1970"));
            if value.is_empty() || expired {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        Ok(response)
    }
}
