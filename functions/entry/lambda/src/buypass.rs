//! The `buypass` Lambda function: the common start plus the Buypass relying party
//! (`portal_core::buypass::config` documents its environment).

use std::sync::Arc;

use crate::config::LambdaConfig;
use crate::http_function::behind_cloudfront;
use crate::init_error::reported;
use portal_core::buypass::config::BuypassConfig;
use portal_core::buypass::keys::Es256Key;
use portal_core::config::ConfigError;
use portal_http::handlers::homeoffice::BuypassState;
use portal_http::routes::{buypass_routes, Function};

async fn initialise() -> Result<BuypassState, ConfigError> {
    let config = LambdaConfig::from_env(Function::Buypass)?;
    let buypass_config = BuypassConfig::from_env()?;
    let built = config.build_parts().await?;
    let client_key = built
        .keys
        .buypass_client_key
        .as_deref()
        .map(Es256Key::from_encoded)
        .transpose()
        .map_err(|e| ConfigError::Init(e.to_string()))?
        .ok_or(ConfigError::Missing("PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID"))?;
    Ok(BuypassState {
        app: built.app,
        buypass: Arc::new(buypass_config.build(client_key)?),
        // The table's stream starts the activation in AWS.
        trigger: None,
    })
}

/// The whole `main` of the `buypass` function.
pub async fn run_buypass_function() -> Result<(), lambda_http::Error> {
    portal_core::observability::init_json_logs();
    let state = reported(Function::Buypass, initialise().await).await?;
    tracing::info!(function = Function::Buypass.name(), "initialised");
    let app = state.app.clone();
    lambda_http::run(behind_cloudfront(buypass_routes().with_state(state), app)).await
}
