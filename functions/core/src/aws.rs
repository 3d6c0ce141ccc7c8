//! The AWS SDK configuration every client shares: region, credentials and endpoint come from
//! the standard environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`…, `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>` for LocalStack or moto).
//!
//! Timeouts are short on purpose: every call is on a user's request path behind API Gateway, and
//! a dead endpoint must turn into a 503 within a couple of seconds, not hang until the gateway
//! gives up. DynamoDB and SNS answer in milliseconds when healthy.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};

/// Upper bound for one SDK call including retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// Loads the shared configuration once per process.
pub async fn load_sdk_config() -> SdkConfig {
    loader().load().await
}

/// `PORTAL_AWS_OPERATION_TIMEOUT_SECS`, for an emulator on a busy machine that needs longer
/// than AWS ever does (the load test sets it; deployments leave it alone).
fn emulator_timeout() -> Option<Duration> {
    std::env::var("PORTAL_AWS_OPERATION_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=300).contains(s))
        .map(Duration::from_secs)
}

/// The roots AWS service endpoints chain to (Amazon Trust Services' five; its repository asks
/// custom trust stores to hold all of them).
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// What the SDK's HTTPS trusts. Against AWS: the Amazon Trust Services roots only. That is
/// narrower than the platform's store (no other CA can vouch for a DynamoDB endpoint) and
/// saves every cold start from reading and parsing a few hundred certificate files. With an
/// HTTPS endpoint override (LocalStack, a proxy) the platform's store, as the SDK's
/// default does, since such an endpoint has a certificate of its own. (Emulators on plain
/// HTTP use no TLS at all, so they change nothing.)
fn tls_context() -> TlsContext {
    // `vars_os`: a variable elsewhere in the environment that is not UTF-8 must not panic here.
    let https_override = std::env::vars_os().any(|(name, value)| {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            return false;
        };
        (name == "AWS_ENDPOINT_URL" || name.starts_with("AWS_ENDPOINT_URL_"))
            && value
                .trim()
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    });
    let trust = if https_override {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
    };
    // Building only stores the settings; it cannot fail for a trust store.
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default()
}

/// The environment-driven loader with the portal's timeouts and retries, for callers that
/// override parts of it (tests point it at the emulator explicitly).
pub fn loader() -> ConfigLoader {
    loader_with(emulator_timeout())
}

/// [`loader`] with AWS's timeouts whatever the environment says (for the test that pins them).
pub fn loader_with_production_timeouts() -> ConfigLoader {
    loader_with(None)
}

fn loader_with(emulator_timeout: Option<Duration>) -> ConfigLoader {
    // With the emulator's longer timeout, one attempt gets all of it: an attempt that timed
    // out may still have been applied, and a conditional write sent again would then fail.
    let (attempt, operation) = match emulator_timeout {
        Some(t) => (t, t),
        None => (Duration::from_secs(2), OPERATION_TIMEOUT),
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build();
    // Two quick retries ride out a dropped keep-alive connection or a throttle blip; more
    // would only delay the 503 the user gets when the service is really down.
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500));
    // HTTPS on rustls with ring. The SDK's default client would bring aws-lc as a second
    // crypto library into every function; ring is already here (tokens, codes, the Buypass
    // client's rustls), so this keeps the deployment zips small.
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context())
        .build_https();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeouts)
        .retry_config(retries);
    lambda_shortcuts(loader)
}

/// Inside Lambda the region and the execution role's credentials are in the environment,
/// which is where the default chains look first. Naming them directly skips building the
/// rest of each chain (profile files, SSO, web identity, container and instance metadata) at
/// every cold start. Outside Lambda, or if the runtime ever stops setting them, the default
/// chains apply unchanged.
fn lambda_shortcuts(loader: ConfigLoader) -> ConfigLoader {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("AWS_LAMBDA_FUNCTION_NAME") {
        return loader;
    }
    let loader = match std::env::var("AWS_REGION") {
        Ok(region) if !region.is_empty() => loader.region(aws_config::Region::new(region)),
        _ => loader,
    };
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject as _;

    /// The bundle is handed to the SDK, which parses it only when it first connects (and
    /// panics there if it cannot): it must parse here.
    #[test]
    fn the_bundled_roots_are_the_five_amazon_trust_services_roots() {
        let ders = rustls_pki_types::CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        // SHA-256 of each certificate, as Amazon Trust Services publishes them.
        let mut fingerprints: Vec<String> = ders
            .iter()
            .map(|der| {
                let digest = ring::digest::digest(&ring::digest::SHA256, der);
                digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
            })
            .collect();
        fingerprints.sort();
        assert_eq!(
            fingerprints,
            [
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
            ]
        );
        let mut subjects: Vec<String> = ders
            .iter()
            .map(|der| {
                let (_, cert) = x509_parser::parse_x509_certificate(der).expect("certificate");
                assert!(cert.is_ca(), "{} is no CA", cert.subject());
                assert_eq!(cert.subject(), cert.issuer(), "{} is not a root", cert.subject());
                assert!(
                    cert.validity().not_after.timestamp() > 2_100_000_000,
                    "expires before 2036"
                );
                cert.subject().to_string()
            })
            .collect();
        subjects.sort();
        assert_eq!(
            subjects,
            [
                "C=US, O=Amazon, CN=Amazon Root CA 1",
                "C=US, O=Amazon, CN=Amazon Root CA 2",
                "C=US, O=Amazon, CN=Amazon Root CA 3",
                "C=US, O=Amazon, CN=Amazon Root CA 4",
                "C=US, ST=Arizona, L=Scottsdale, O=Starfield Technologies, Inc., CN=Starfield Services Root Certificate Authority - G2",
            ]
        );
    }
}
