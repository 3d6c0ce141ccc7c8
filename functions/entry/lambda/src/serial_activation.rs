//! Configuration of the `serial-activation` Lambda function.
//!
//! Environment (besides the common `PORTAL_*` variables documented in `crate::config`; the SMS
//! sender is the common one):
//! - `PORTAL_GATEWAY_EVENTS`: `sns` (default) or `local` (events kept in the store).
//! - `PORTAL_GATEWAY_TOPIC_ARN`: the SNS topic the gateway subscribes to (required for `sns`).
//! - `PORTAL_GATEWAY_AUTH`: `iam` (default: API Gateway's IAM authorizer guards the lookup
//!   routes and the function insists on the gateway's role, `PORTAL_GATEWAY_ROLE_ARN`, an
//!   `arn:aws:iam::<account>:role/…` ARN, required) or `key` with `PORTAL_GATEWAY_KEY`.
//!
//! Triggers: the table's DynamoDB stream (NEW_AND_OLD_IMAGES, `ReportBatchItemFailures`,
//! bisect on error, an on-failure destination as dead-letter queue; a filter on
//! `Keys.pk` prefix `SERIAL#` and `NewImage.work = "due"` keeps the noise out), an EventBridge
//! schedule (every 5 minutes), and the API Gateway routes `GET /v1/gateway/certificates/{serial}`
//! and `GET /v1/gateway/certificates/{issuer_id}/{serial}`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::config::{BuiltFunction, ConfigError, LambdaConfig};
use crate::init_error::reported;
use portal_core::activation::gateway::{GatewayEvents, LocalGatewayEvents, SnsGatewayEvents};
use portal_core::activation::{ActivationPolicy, Activator};
use portal_http::handlers::homeoffice::{GatewayAuth, GatewayRole, GatewayState};
use portal_http::routes::{serial_activation_routes, with_common_layers, Function};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEventsConfig {
    Sns { topic_arn: String },
    Local,
}

#[derive(Debug, Clone)]
pub struct ActivationConfig {
    pub events: GatewayEventsConfig,
    pub auth: GatewayAuth,
}

impl ActivationConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], reading variables through `lookup` (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let events = match var("PORTAL_GATEWAY_EVENTS").as_deref().unwrap_or("sns") {
            "sns" => GatewayEventsConfig::Sns {
                topic_arn: var("PORTAL_GATEWAY_TOPIC_ARN").ok_or(ConfigError::Missing("PORTAL_GATEWAY_TOPIC_ARN"))?,
            },
            "local" => GatewayEventsConfig::Local,
            other => return Err(ConfigError::Invalid("PORTAL_GATEWAY_EVENTS", other.into())),
        };
        let auth = match var("PORTAL_GATEWAY_AUTH").as_deref().unwrap_or("iam") {
            "iam" => {
                // Without it any principal the API's IAM authorizer lets through could read the
                // registry; refusing to start is the only safe default.
                let arn = var("PORTAL_GATEWAY_ROLE_ARN").ok_or(ConfigError::Missing("PORTAL_GATEWAY_ROLE_ARN"))?;
                let role = GatewayRole::parse(arn.trim())
                    .ok_or_else(|| ConfigError::Invalid("PORTAL_GATEWAY_ROLE_ARN", "not an IAM role ARN".into()))?;
                GatewayAuth::Iam { role }
            }
            "key" => {
                let key = var("PORTAL_GATEWAY_KEY").ok_or(ConfigError::Missing("PORTAL_GATEWAY_KEY"))?;
                GatewayAuth::key(&key).map_err(|why| ConfigError::Invalid("PORTAL_GATEWAY_KEY", why.into()))?
            }
            other => return Err(ConfigError::Invalid("PORTAL_GATEWAY_AUTH", other.into())),
        };
        Ok(Self { events, auth })
    }
}

async fn initialise() -> Result<(ActivationConfig, BuiltFunction), ConfigError> {
    let config = LambdaConfig::from_env(Function::SerialActivation)?;
    let activation = ActivationConfig::from_env()?;
    Ok((activation, config.build_parts().await?))
}

/// The whole `main` of the `serial-activation` function.
pub async fn run_serial_activation_function() -> Result<(), lambda_runtime::Error> {
    portal_core::observability::init_json_logs();
    let (activation, built) = reported(Function::SerialActivation, initialise().await).await?;
    let app = built.app.clone();
    let gateway: Arc<dyn GatewayEvents> = match &activation.events {
        GatewayEventsConfig::Sns { topic_arn } => {
            let aws = built.sdk_config().await;
            Arc::new(SnsGatewayEvents::new(aws_sdk_sns::Client::new(&aws), topic_arn.clone()))
        }
        GatewayEventsConfig::Local => Arc::new(LocalGatewayEvents::new(
            app.repo.items().clone(),
            app.clock.clone(),
            false,
        )),
    };
    let activator = Arc::new(Activator::new(app.clone(), gateway, ActivationPolicy::default(), true));
    let state = GatewayState {
        app,
        auth: Arc::new(activation.auth),
    };
    let router = with_common_layers(serial_activation_routes().with_state(state));
    tracing::info!(function = Function::SerialActivation.name(), "initialised");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let activator = activator.clone();
        let router = router.clone();
        async move { crate::activation_events::handle_event(&activator, router, event).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ActivationConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ActivationConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const TOPIC: (&str, &str) = ("PORTAL_GATEWAY_TOPIC_ARN", "arn:aws:sns:eu-north-1:123456789012:gw");

    #[test]
    fn iam_auth_refuses_to_start_without_the_gateway_role() {
        for auth in [None, Some("iam")] {
            let mut vars = vec![TOPIC];
            if let Some(auth) = auth {
                vars.push(("PORTAL_GATEWAY_AUTH", auth));
            }
            assert!(
                matches!(config(&vars), Err(ConfigError::Missing("PORTAL_GATEWAY_ROLE_ARN"))),
                "{auth:?}"
            );
            vars.push(("PORTAL_GATEWAY_ROLE_ARN", "arn:aws:sts::123456789012:assumed-role/gw/s"));
            assert!(
                matches!(config(&vars), Err(ConfigError::Invalid("PORTAL_GATEWAY_ROLE_ARN", _))),
                "an assumed-role ARN is not a role ARN"
            );
        }
        let ok = config(&[TOPIC, ("PORTAL_GATEWAY_ROLE_ARN", "arn:aws:iam::123456789012:role/gw")]).unwrap();
        assert!(matches!(ok.auth, GatewayAuth::Iam { .. }));
        // Key auth (local) needs no role.
        let key = config(&[
            TOPIC,
            ("PORTAL_GATEWAY_AUTH", "key"),
            ("PORTAL_GATEWAY_KEY", "0123456789abcdef"),
        ])
        .unwrap();
        assert!(matches!(key.auth, GatewayAuth::Key { .. }));
    }
}
