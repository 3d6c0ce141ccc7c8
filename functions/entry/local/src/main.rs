//! `portal-local`: the whole portal API in one process, on an embedded store, with SMS going to
//! a local outbox. The local default for development, demos and end-to-end tests.
//!
//! `--store dynamodb --sms sns` runs the same API on the AWS backends (table from `--table` or
//! `PORTAL_TABLE`, by default the one infra/ creates for LocalStack; region/credentials/endpoint
//! from the standard AWS environment), e.g. against LocalStack or moto; keys still come from the
//! data dir. The backend flags stand for their `PORTAL_*` variables and override them; both are
//! read by the one configuration tree (`portal_core::deployment`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use portal_core::deployment::{SmsConfig, StoreConfig};
use portal_local::env::{ensure_demo_account, local_deployment, BackendFlags, LocalEnv};
use portal_local::homeoffice::{LocalBuypassOptions, LocalHomeOffice};
use portal_local::server::{find_ui_dir, local_router, LocalRoutes};

#[derive(Parser, Debug)]
#[command(about = "Runs the Hjemmekontor portal API locally")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "PORTAL_PORT", default_value_t = 8080)]
    port: u16,
    /// The host name in this server's own address: `127.0.0.1`, or `localhost` (or a name
    /// under it), which browsers also treat as a secure context but which, unlike an IP
    /// address, can be a WebAuthn relying party, so passkeys are offered. It always listens
    /// on 127.0.0.1.
    #[arg(long, default_value = "127.0.0.1", value_parser = loopback_host)]
    host_name: String,
    /// Where the store, keys and demo credentials live.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = ".portal-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    backend: BackendFlags,
    /// The portal front end's URL (PORTAL_URL; default: this server's own address).
    #[arg(long)]
    portal_url: Option<String>,
    /// Origin allowed to call the API with credentials (default: the portal URL).
    #[arg(long, env = "PORTAL_CORS_ORIGIN")]
    cors_origin: Option<String>,
    /// Do not create the demo account.
    #[arg(long)]
    no_demo: bool,
    /// The portal front end served at / (default: `portal-ui/` in the working directory or
    /// next to the build).
    #[arg(long, env = "PORTAL_UI_DIR")]
    ui_dir: Option<PathBuf>,
    /// Buypass OpenID issuer (default: the stand-in provider at <this server>/dev/buypass).
    #[arg(long, env = "BUYPASS_ISSUER_URL")]
    buypass_issuer: Option<String>,
    /// Our client id at the Buypass issuer.
    #[arg(long, env = "BUYPASS_CLIENT_ID")]
    buypass_client_id: Option<String>,
    /// PEM bundle of the Buypass issuing CAs to trust (default: the stand-in's test CA).
    #[arg(long, env = "BUYPASS_CA_BUNDLE_FILE")]
    buypass_ca: Option<PathBuf>,
    /// Key the gateway sends in X-Gateway-Key (generated and printed when absent).
    #[arg(long, env = "PORTAL_GATEWAY_KEY", hide_env_values = true)]
    gateway_key: Option<String>,
    /// Seconds between activation sweeps of the in-process worker.
    #[arg(long, default_value_t = 30)]
    activation_sweep_seconds: u64,
    /// Seconds a newly registered card stays pending before the in-process worker activates
    /// it (default 0: at once). To watch the portal's live status change.
    #[arg(long, default_value_t = 0)]
    activation_delay_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    portal_core::observability::init_console_logs();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let address = listener.local_addr()?;
    let base = format!("http://{}:{}", args.host_name, address.port());
    let deployment = local_deployment(
        &args.data_dir,
        Some(&base),
        &[args.backend.overrides(), vec![("PORTAL_URL", args.portal_url.clone())]].concat(),
    )?;
    let env = LocalEnv::open(deployment, true).await?;
    let settings = env.deployment.settings.clone();
    let app = env.app(None)?;
    let ui_dir = find_ui_dir(args.ui_dir.as_deref())?;
    let generated_gateway_key = args.gateway_key.is_none();
    let home_office = LocalHomeOffice::start(
        &env,
        &app,
        &base,
        LocalBuypassOptions {
            issuer: args.buypass_issuer.clone(),
            client_id: args.buypass_client_id.clone(),
            ca_file: args.buypass_ca.clone(),
            gateway_key: args.gateway_key.clone(),
            sweep_every: std::time::Duration::from_secs(args.activation_sweep_seconds.max(1)),
            activation_delay: std::time::Duration::from_secs(args.activation_delay_seconds),
        },
    )?;

    println!("Hjemmekontor-portalen kjører på {base}");
    match &ui_dir {
        Some(dir) => println!("  nettside:    {base}/ (fra {})", dir.display()),
        None => println!("  nettside:    fant ikke portal-ui/ (oppgi mappen med --ui-dir); bare API-et kjører"),
    }
    println!("  data:        {}", env.data_dir.display());
    if let StoreConfig::DynamoDb { table } = &env.deployment.store {
        println!("  lagring:     DynamoDB-tabell {table}");
    }
    let outbox = env.deployment.sms == SmsConfig::Outbox;
    if outbox {
        println!("  SMS-koder:   {base}/dev/sms (og her i konsollen)");
    } else {
        println!("  SMS-koder:   sendes med Amazon SNS");
    }
    println!(
        "  Buypass:     {} (klient {})",
        home_office.issuer, home_office.client_id
    );
    if generated_gateway_key {
        println!(
            "  gateway:     X-Gateway-Key {} (generert; fast nøkkel med --gateway-key)",
            home_office.gateway_key
        );
    }
    if !args.no_demo {
        let demo = ensure_demo_account(&app, &env.data_dir).await?;
        println!(
            "  demokonto:   brukernavn {}  passord {}  mobil {}",
            demo.username,
            demo.password.expose(),
            demo.mobile
        );
    }
    // Machine-readable line for scripts and tests that start us on port 0.
    println!("listening on {address}");

    let router = local_router(LocalRoutes {
        app,
        // With SNS the codes go to real phones (or the emulator); there is no outbox to show.
        outbox: outbox.then(|| env.outbox.clone()),
        cors_origin: Some(args.cors_origin.unwrap_or(settings.portal_url)),
        ui_dir,
        home_office: Some(home_office),
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// `--host-name`: only names that reach this server, which listens on 127.0.0.1.
fn loopback_host(name: &str) -> Result<String, String> {
    let name = name.to_ascii_lowercase();
    let dns = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if name == "127.0.0.1" || name == "localhost" || (dns && name.ends_with(".localhost") && !name.contains("..")) {
        Ok(name)
    } else {
        Err("must be 127.0.0.1, localhost or a name under .localhost".to_owned())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn host_name_is_a_loopback_name() {
        for (given, taken) in [
            ("127.0.0.1", "127.0.0.1"),
            ("localhost", "localhost"),
            ("LocalHost", "localhost"),
            ("portal.localhost", "portal.localhost"),
        ] {
            assert_eq!(loopback_host(given).as_deref(), Ok(taken), "{given}");
        }
        for refused in [
            "example.no",
            "localhost.example.no",
            "10.0.0.1",
            "a..localhost",
            "a/b.localhost",
            "",
        ] {
            assert!(loopback_host(refused).is_err(), "{refused} accepted");
        }
    }
}
