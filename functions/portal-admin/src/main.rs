//! `portal-admin`: operators' command line. Works on the same data as the portal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portal::config::Settings;
use portal::domain::{MobileNumber, Password, Username};
use portal::local::LocalEnv;
use portal::services::admin::NewAccount;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Operators' tool for the Hjemmekontor portal")]
struct Args {
    /// The local portal's data dir.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = ".portal-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates an account. Without --password a password is generated and sent by SMS, and
    /// the user must change it at first login.
    CreateAccount {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        mobile: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        home_office: bool,
        /// Initial password (read from the environment variable PORTAL_NEW_PASSWORD if set).
        #[arg(long, env = "PORTAL_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Blocks login and ends every session of the account.
    Disable { username: String },
    /// Allows login again.
    Enable { username: String },
    /// Turns the home-office service on or off for the account.
    SetHomeOffice {
        username: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Shows an account (never its secrets).
    Show { username: String },
    /// Generates a new password and sends it by SMS; the user must change it after logging in,
    /// and every session of the account ends.
    ResetPassword { username: String },
    /// Prints the account's security audit trail, oldest first (masked numbers, no secrets).
    Audit { username: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("feil: {e}");
            ExitCode::FAILURE
        }
    }
}

fn username(raw: &str) -> anyhow::Result<Username> {
    Username::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn run(args: Args) -> anyhow::Result<String> {
    let env = LocalEnv::open(&args.data_dir, false)?;
    let app = env.app(Settings::from_env(), None)?;
    match args.command {
        Command::CreateAccount {
            username: u,
            name,
            mobile,
            email,
            home_office,
            password,
        } => {
            let username = username(&u)?;
            let mobile = MobileNumber::parse(&mobile).map_err(|e| anyhow::anyhow!("{e}"))?;
            let generated = app
                .create_account(NewAccount {
                    username: username.clone(),
                    name,
                    email,
                    mobile: mobile.clone(),
                    home_office,
                    password: password.map(Password::new),
                })
                .await?;
            let how = if generated.is_some() {
                "generated and sent by SMS"
            } else {
                "as given"
            };
            Ok(format!(
                "created {username} (mobile {}, password {how})",
                mobile.masked()
            ))
        }
        Command::Disable { username: u } => {
            app.set_disabled(&username(&u)?, true).await?;
            Ok(format!("disabled {u}; all sessions ended"))
        }
        Command::Enable { username: u } => {
            app.set_disabled(&username(&u)?, false).await?;
            Ok(format!("enabled {u}"))
        }
        Command::SetHomeOffice { username: u, state } => {
            app.set_home_office(&username(&u)?, state == "on").await?;
            Ok(format!("home office {state} for {u}"))
        }
        Command::ResetPassword { username: u } => {
            let reset = app.reset_password_by_operator(&username(&u)?).await?;
            Ok(format!(
                "new password for {u} sent by SMS to {}; {} session(s) ended; the user must change it after logging in",
                reset.sent_to, reset.sessions_revoked
            ))
        }
        Command::Audit { username: u } => {
            let events = app.repo.audit_trail(&username(&u)?, app.now()).await?;
            if events.is_empty() {
                return Ok(format!("no audit events for {u}"));
            }
            Ok(events.iter().map(audit_line).collect::<Vec<_>>().join("\n"))
        }
        Command::Show { username: u } => {
            let account = app
                .account(&username(&u)?)
                .await
                .map_err(|_| anyhow::anyhow!("no account named {u}"))?;
            Ok(serde_json::to_string_pretty(&json!({
                "username": account.username,
                "name": account.name,
                "email": account.email,
                "mobile": account.mobile.as_e164(),
                "disabled": account.disabled,
                "home_office": account.home_office,
                "password_change_required": account.password_change_required,
                "created_at": portal::clock::rfc3339(account.created_at),
            }))?)
        }
    }
}

/// One event per line: time, event, source address, detail. Details hold masked numbers and
/// reasons only; secrets are never recorded in the first place.
fn audit_line(event: &portal::audit::AuditEvent) -> String {
    let kind = serde_json::to_value(event.event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let detail = match &event.detail {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    format!(
        "{}  {:<24}  {:<15}  {}",
        event.at,
        kind,
        event.source_ip.as_deref().unwrap_or("-"),
        detail
    )
    .trim_end()
    .to_owned()
}
