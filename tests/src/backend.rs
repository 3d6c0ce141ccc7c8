//! Which backends the end-to-end suite runs `portal-local` on.
//!
//! `E2E_BACKEND=aws` (set by the test command for its second pass) runs every end-to-end test
//! on DynamoDB and SNS in the AWS emulator (moto) that the test command started
//! (`PORTAL_TEST_AWS_ENDPOINT`); SMS are then read from the emulator instead of `/dev/sms`.
//! Moto keeps one SMS log for everyone, so that pass runs its tests one at a time and each data
//! dir remembers where in the log its portal started.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data dir, SMS to the local outbox.
    Local,
    /// A DynamoDB table and SNS in the emulator at `endpoint`.
    Aws { endpoint: String },
}

impl Backend {
    pub fn from_env() -> Result<Self> {
        match std::env::var("E2E_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("local") => Ok(Self::Local),
            Ok("aws") => {
                let endpoint = std::env::var("PORTAL_TEST_AWS_ENDPOINT").context(
                    "E2E_BACKEND=aws needs PORTAL_TEST_AWS_ENDPOINT (./scripts/test.sh starts the emulator)",
                )?;
                Ok(Self::Aws {
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                })
            }
            Ok(other) => bail!("E2E_BACKEND={other}: expected local or aws"),
        }
    }

    /// Standard AWS variables pointing a child process at the emulator.
    pub fn apply_env(&self, command: &mut Command) {
        if let Self::Aws { endpoint } = self {
            command
                .env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_REGION", "eu-north-1")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
    }
}

/// The AWS side of one data dir: its table and where its SMS start in the emulator's log.
#[derive(Debug, Clone)]
pub struct AwsData {
    pub endpoint: String,
    pub table: String,
    pub sms_from: usize,
}

impl AwsData {
    /// Reads the data dir's table and SMS cursor, creating both (and the table, with
    /// `portal-admin init-table`) on first use.
    pub fn for_data_dir(backend: &Backend, data_dir: &Path) -> Result<Option<Self>> {
        let Backend::Aws { endpoint } = backend else {
            return Ok(None);
        };
        let marker = data_dir.join("e2e-aws.json");
        if let Ok(raw) = std::fs::read_to_string(&marker) {
            let saved: Value = serde_json::from_str(&raw)?;
            return Ok(Some(Self {
                endpoint: endpoint.clone(),
                table: saved["table"].as_str().unwrap_or_default().to_owned(),
                sms_from: saved["sms_from"].as_u64().unwrap_or_default() as usize,
            }));
        }
        let table = format!("e2e-{:016x}", rand_u64());
        let mut init = Command::new(crate::bin("portal-admin"));
        init.args(["--store", "dynamodb", "--table", &table, "init-table"]);
        backend.apply_env(&mut init);
        let out = init.output().context("running portal-admin init-table")?;
        if !out.status.success() {
            bail!("init-table failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let data = Self {
            endpoint: endpoint.clone(),
            table,
            sms_from: moto_sms_blocking(endpoint)?.len(),
        };
        std::fs::write(
            &marker,
            json!({ "table": data.table, "sms_from": data.sms_from }).to_string(),
        )?;
        Ok(Some(data))
    }

    pub fn store_args(&self) -> Vec<String> {
        ["--store", "dynamodb", "--table", &self.table]
            .map(str::to_owned)
            .to_vec()
    }

    /// SMS sent since this data dir's portal first started, newest first, shaped like the
    /// local outbox (`to`, `body`).
    pub async fn sms(&self) -> Result<Vec<Value>> {
        let all = moto_sms(&self.endpoint).await?;
        Ok(all
            .iter()
            .skip(self.sms_from)
            .rev()
            .map(|m| json!({ "to": m["phone_number"], "body": m["message"] }))
            .collect())
    }

    /// Every stored item, as the emulator returns it (a DynamoDB Scan; moto does not check
    /// request signatures, so a plain JSON request does).
    pub async fn stored_items(&self) -> Result<String> {
        let response = reqwest::Client::new()
            .post(format!("{}/", self.endpoint))
            .header("x-amz-target", "DynamoDB_20120810.Scan")
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-north-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(json!({ "TableName": self.table }).to_string())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("scan failed: {}", response.text().await?);
        }
        Ok(response.text().await?)
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

async fn moto_sms(endpoint: &str) -> Result<Vec<Value>> {
    let data: Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await?
        .json()
        .await?;
    Ok(data["sns"]["SMS"].as_array().cloned().unwrap_or_default())
}

fn moto_sms_blocking(endpoint: &str) -> Result<Vec<Value>> {
    let endpoint = endpoint.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(moto_sms(&endpoint))
    })
    .join()
    .map_err(|_| anyhow!("reading the emulator's SMS log panicked"))?
}
