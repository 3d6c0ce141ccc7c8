//! The AWS emulator the tests talk to: moto's server, started by `scripts/test.sh`.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use portal_core::store::dynamodb::{create_table, DynamoStore};
use serde_json::Value;

pub const ENDPOINT_VAR: &str = "PORTAL_TEST_AWS_ENDPOINT";
pub const REQUIRE_VAR: &str = "PORTAL_REQUIRE_AWS_EMULATOR";
pub const REGION: &str = "eu-north-1";
/// How long an SDK call may take against the emulator (`portal_core::aws`): `scripts/test.sh`
/// gives the single-threaded emulator, serving many tests at once, longer than AWS needs.
pub const TIMEOUT_VAR: &str = "PORTAL_AWS_OPERATION_TIMEOUT_SECS";

#[derive(Debug, Clone)]
pub struct Emulator {
    pub endpoint: String,
}

impl Emulator {
    /// The configured emulator; `None` (with a note on stderr) when there is none and it is not
    /// required. Panics when it is required but missing.
    pub fn from_env() -> Option<Self> {
        let endpoint = std::env::var(ENDPOINT_VAR).ok().filter(|v| !v.trim().is_empty());
        let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
        match endpoint {
            Some(endpoint) => Some(Self {
                endpoint: endpoint.trim_end_matches('/').to_owned(),
            }),
            None if required => {
                panic!("{REQUIRE_VAR}=1 but {ENDPOINT_VAR} is not set: the AWS emulator tests must run")
            }
            None => {
                eprintln!(
                    "SKIPPED: {ENDPOINT_VAR} is not set; run ./scripts/test.sh to start the AWS \
                     emulator (moto) and run this test"
                );
                None
            }
        }
    }

    /// `host:port` of the emulator, for proxies.
    pub fn address(&self) -> String {
        self.endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// SDK configuration pointing at `endpoint` (the emulator or a proxy in front of it), with
    /// the portal's own timeouts and retries.
    pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
        Self::configure(portal_core::aws::loader(), endpoint).await
    }

    /// As [`Self::sdk_config_for`], with AWS's timeouts even where the test environment gives
    /// the emulator longer (`PORTAL_AWS_OPERATION_TIMEOUT_SECS`).
    pub async fn production_sdk_config_for(endpoint: &str) -> SdkConfig {
        Self::configure(portal_core::aws::loader_with_production_timeouts(), endpoint).await
    }

    async fn configure(loader: aws_config::ConfigLoader, endpoint: &str) -> SdkConfig {
        loader
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        Self::sdk_config_for(&self.endpoint).await
    }

    /// Environment for a child process (portal-local, portal-admin, a Lambda) using the
    /// emulator through the standard AWS variables, and the emulator's longer timeout when the
    /// test run sets one (children start with an empty environment).
    pub fn child_env(&self) -> Vec<(String, String)> {
        let timeout = std::env::var(TIMEOUT_VAR).ok();
        [
            ("AWS_ENDPOINT_URL", Some(self.endpoint.as_str())),
            ("AWS_REGION", Some(REGION)),
            ("AWS_ACCESS_KEY_ID", Some("testing")),
            ("AWS_SECRET_ACCESS_KEY", Some("testing")),
            ("AWS_EC2_METADATA_DISABLED", Some("true")),
            (TIMEOUT_VAR, timeout.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect()
    }

    /// A new table, created exactly as `portal-admin init-table` does, with a unique name.
    pub async fn new_table(&self) -> DynamoStore {
        let table = unique_name("portal-test");
        let client = aws_sdk_dynamodb::Client::new(&self.sdk_config().await);
        create_table(&client, &table)
            .await
            .expect("table created in the emulator");
        DynamoStore::new(client, table)
    }

    /// Bodies of the SMS moto recorded for `number`, oldest first.
    pub async fn sms_to(&self, number: &str) -> Vec<String> {
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .expect("moto data")
            .json()
            .await
            .expect("moto data is JSON");
        data["sns"]["SMS"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|m| m["phone_number"] == number)
                    .filter_map(|m| m["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The code in the newest SMS to `number`, waiting briefly for it to arrive.
    pub async fn latest_code(&self, number: &str) -> String {
        for _ in 0..50 {
            if let Some(code) = self.sms_to(number).await.last().and_then(|b| code_in(b)) {
                return code;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no SMS with a code reached {number}");
    }
}

/// The 6-digit code in an SMS text.
pub fn code_in(body: &str) -> Option<String> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .map(str::to_owned)
}

/// Stores `document` in Secrets Manager as a new secret named `prefix-<random>`; returns the name.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    document: impl Into<String>,
) -> String {
    let name = unique_name(prefix);
    client
        .create_secret()
        .name(&name)
        .secret_string(document)
        .send()
        .await
        .expect("secret created in the emulator");
    name
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A Norwegian mobile number no other test uses.
pub fn unique_mobile() -> String {
    format!("+479{:07}", rand::random::<u32>() % 10_000_000)
}
