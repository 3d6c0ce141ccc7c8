//! `portal-local`'s home-office wiring: the Buypass relying party pointed at the configured
//! issuer (by default the stand-in provider on this same server), the in-process activation
//! worker, the local gateway event log and the gateway key.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use crate::env::LocalEnv;
use portal_core::activation::gateway::LocalGatewayEvents;
use portal_core::activation::worker::spawn_local_worker;
use portal_core::activation::{ActivationPolicy, Activator};
use portal_core::app::SharedApp;
use portal_core::buypass::config::BuypassConfig;
use portal_core::buypass::flow::CALLBACK_PATH;
use portal_core::clock::SystemClock;
use portal_dev::provider::{dev_provider_router, DevProvider, DEV_PROVIDER_PATH};
use portal_http::error::ApiError;
use portal_http::handlers::auth::no_store;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{api_router, ApiState};

/// Defaults for portal-local's own Buypass client registration at the stand-in.
pub const LOCAL_CLIENT_ID: &str = "hjemmekontor-lokal";

/// What portal-local's flags say about Buypass and the gateway.
#[derive(Debug, Clone, Default)]
pub struct LocalBuypassOptions {
    /// `--buypass-issuer`; `None`: the stand-in at `<base>/dev/buypass`.
    pub issuer: Option<String>,
    /// `--buypass-client-id`.
    pub client_id: Option<String>,
    /// `--buypass-ca`: PEM bundle of trusted issuing CAs; `None`: the stand-in's test CA.
    pub ca_file: Option<PathBuf>,
    /// `--gateway-key`; `None`: one is generated (and printed by the caller).
    pub gateway_key: Option<String>,
    /// How often the local worker sweeps.
    pub sweep_every: Duration,
    /// How long a newly registered serial waits before the worker activates it (0 = at once).
    pub activation_delay: Duration,
}

/// Everything the home-office part of portal-local mounts.
pub struct LocalHomeOffice {
    /// The API routes' state: the app, the Buypass relying party, the worker's trigger and
    /// the gateway key.
    pub state: ApiState,
    pub dev_provider: Arc<DevProvider>,
    pub gateway_events: Arc<LocalGatewayEvents>,
    pub gateway_key: String,
    pub issuer: String,
    pub client_id: String,
}

impl LocalHomeOffice {
    /// Builds it all and starts the activation worker on the current runtime. `base` is this
    /// server's own address.
    pub fn start(env: &LocalEnv, app: &SharedApp, base: &str, options: LocalBuypassOptions) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/');
        let redirect_uri = format!("{base}{CALLBACK_PATH}");
        let client_id = options.client_id.unwrap_or_else(|| LOCAL_CLIENT_ID.to_owned());
        let dev_issuer = format!("{base}{DEV_PROVIDER_PATH}");
        let dev_provider = Arc::new(DevProvider::open(
            &env.data_dir,
            &dev_issuer,
            &client_id,
            &redirect_uri,
            env.buypass_client_key.public_jwk(),
            Arc::new(SystemClock),
        )?);
        let ca_bundle_pem = match &options.ca_file {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--buypass-ca {}: {e}", path.display()))?
            }
            None => dev_provider.ca_pem(),
        };
        let issuer = options.issuer.unwrap_or(dev_issuer).trim_end_matches('/').to_owned();
        let buypass = BuypassConfig {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            redirect_uri,
            ca_bundle_pem,
        }
        .build(env.buypass_client_key.clone())?;
        let gateway_events = Arc::new(LocalGatewayEvents::new(env.store.clone(), Arc::new(SystemClock), true));
        let activator = Arc::new(Activator::new(
            app.clone(),
            gateway_events.clone(),
            ActivationPolicy::default(),
            false,
        ));
        let trigger = spawn_local_worker(activator, options.sweep_every, options.activation_delay);
        let gateway_key = options
            .gateway_key
            .unwrap_or_else(|| portal_core::security::random_token(24));
        let state = ApiState {
            trigger: Some(trigger),
            ..ApiState::new(
                app.clone(),
                Arc::new(buypass),
                GatewayAuth::key(&gateway_key).map_err(|why| anyhow::anyhow!("--gateway-key: {why}"))?,
            )
        };
        Ok(Self {
            state,
            dev_provider,
            gateway_events,
            gateway_key,
            issuer,
            client_id,
        })
    }

    /// Every API route on this state, the stand-in provider and `GET /dev/gateway/events`.
    pub fn router(self) -> Router {
        api_router(self.state)
            .merge(dev_provider_router(self.dev_provider))
            .merge(
                Router::new()
                    .route("/dev/gateway/events", get(gateway_events))
                    .with_state(self.gateway_events),
            )
    }
}

/// `GET /dev/gateway/events`: what the gateway would have been told, oldest first.
async fn gateway_events(State(events): State<Arc<LocalGatewayEvents>>) -> Result<Response, ApiError> {
    Ok(no_store(Json(events.list().await?)))
}
