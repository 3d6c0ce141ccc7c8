//! `portal-local`: the whole portal API in one process, on an embedded store, with SMS going to
//! a local outbox. The local default for development, demos and end-to-end tests.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use portal::config::Settings;
use portal::local::{ensure_demo_account, LocalEnv};
use portal::local_server::{local_router, LocalRoutes};

#[derive(Parser, Debug)]
#[command(about = "Runs the Hjemmekontor portal API locally")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "PORTAL_PORT", default_value_t = 8080)]
    port: u16,
    /// Where the store, keys and demo credentials live.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = ".portal-data")]
    data_dir: PathBuf,
    /// Storage backend.
    #[arg(long, env = "PORTAL_STORE", default_value = "sqlite", value_parser = ["sqlite"])]
    store: String,
    /// SMS backend.
    #[arg(long, env = "PORTAL_SMS", default_value = "outbox", value_parser = ["outbox"])]
    sms: String,
    /// The portal front end's URL (default: this server's own address).
    #[arg(long, env = "PORTAL_URL")]
    portal_url: Option<String>,
    /// Origin allowed to call the API with credentials (default: the portal URL).
    #[arg(long, env = "PORTAL_CORS_ORIGIN")]
    cors_origin: Option<String>,
    /// Do not create the demo account.
    #[arg(long)]
    no_demo: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    portal::observability::init_console_logs();
    let args = Args::parse();
    let env = LocalEnv::open(&args.data_dir, true)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    let mut settings = Settings::from_env();
    settings.portal_url = args.portal_url.clone().unwrap_or_else(|| base.clone());
    let app = env.app(settings.clone(), None)?;

    println!("Hjemmekontor-portalen kjører på {base}");
    println!("  data:        {}", env.data_dir.display());
    println!("  SMS-koder:   {base}/dev/sms (og her i konsollen)");
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
        outbox: Some(env.outbox.clone()),
        cors_origin: Some(args.cors_origin.unwrap_or(settings.portal_url)),
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
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
