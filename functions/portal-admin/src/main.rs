//! `portal-admin`: operators' command line. Works on the same data as the portal: the local
//! data dir's SQLite store, or with `--store dynamodb` a DynamoDB table (`--table` or
//! `PORTAL_TABLE`, by default the one infra/ creates for LocalStack; region, credentials and
//! endpoint from the standard AWS environment). The backend flags stand for their `PORTAL_*`
//! variables and are read with them by the one configuration tree (`portal_core::deployment`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use portal_core::activation::gateway::{GatewayEvents, LocalGatewayEvents, SnsGatewayEvents};
use portal_core::activation::{ActivationPolicy, Activator, Outcome, Trigger};
use portal_core::app::SharedApp;
use portal_core::buypass::registry::CardKey;
use portal_core::deployment::{Deployment, StoreConfig};
use portal_core::domain::{CertificateSerial, IssuerId, MobileNumber, Password, Username};
use portal_core::services::admin::{InitialPassword, NewAccount};
use portal_core::store::dynamodb::{create_table, TableCreated};
use portal_local::env::{local_deployment, BackendFlags, LocalEnv};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Operators' tool for the Hjemmekontor portal")]
struct Args {
    /// The local portal's data dir.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = ".portal-data", global = true)]
    data_dir: PathBuf,
    #[command(flatten)]
    backend: BackendFlags,
    /// How a revoked card reaches the gateway: `local` (the event log in the store, which
    /// portal-local's gateway stand-in reads), `sns` (publish to --gateway-topic-arn), or
    /// `function` (leave it to the serial-activation function, which the table's stream
    /// triggers). Default: `local` on SQLite, `function` on DynamoDB.
    #[arg(long, env = "PORTAL_GATEWAY_EVENTS", value_parser = ["local", "sns", "function"], global = true)]
    gateway_events: Option<String>,
    /// The gateway's SNS topic (with --gateway-events sns).
    #[arg(long, env = "PORTAL_GATEWAY_TOPIC_ARN", global = true)]
    gateway_topic_arn: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates an account. The user must change the password at first login. Without a
    /// password (PORTAL_NEW_PASSWORD or --password-stdin) one is generated and sent by SMS.
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
        /// Read the initial password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Refused: a password on the command line shows in `ps` and shell history.
        #[arg(long, hide = true, num_args = 0..=1)]
        password: Option<Option<String>>,
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
    /// Sets the language of the account's SMS: nb (bokmål), nn (nynorsk) or en (English).
    SetLanguage {
        username: String,
        #[arg(value_parser = ["nb", "nn", "en"])]
        language: String,
    },
    /// Lets the account's codes and notices go to numbers in another country (the portal
    /// texts only Norwegian numbers otherwise). Audited.
    AllowCountry {
        username: String,
        /// The country calling code, e.g. 46 or +46.
        country_code: String,
    },
    /// Takes an allow-country back. Audited.
    DisallowCountry { username: String, country_code: String },
    /// Shows an account (never its secrets).
    Show { username: String },
    /// Prints the public JWKS of our Buypass client key (what Buypass needs for the client
    /// registration; never the private key).
    BuypassClientJwks,
    /// Revokes a certificate serial for the gateway (publishes the revocation event).
    RevokeSerial {
        serial: String,
        /// The serial's issuer id (hex SHA-256 of the issuer name); needed only when more than
        /// one issuer has this serial registered.
        #[arg(long)]
        issuer: Option<String>,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "operator")]
        reason: String,
    },
    /// Revokes every card still active for an account that may not use it (disabled, home
    /// office off, or no longer its card): run once before deploying this version over data
    /// written by an older one (publishes each revocation event).
    RepairCards,
    /// Generates a new password and sends it by SMS; the user must change it after logging in,
    /// and every session of the account ends.
    ResetPassword { username: String },
    /// Prints the account's security audit trail, oldest first (masked numbers, no secrets).
    Audit { username: String },
    /// Lists the accounts whose owner said "this wasn't me" and whose incident is still open
    /// (sessions ended, card revoked, password change required; see the audit trail).
    Incidents,
    /// Closes the account's incident once it has been followed up (the account stays as the
    /// report left it: the user changes the password at the next login, registers the card again).
    IncidentClose { username: String },
    /// Shows whether the account has an authenticator app (TOTP) for login.
    TotpStatus { username: String },
    /// Removes the account's authenticator app (lost phone); login falls back to SMS codes.
    RemoveTotp { username: String },
    /// Removes every passkey of the account (lost devices, or a passkey an intruder added);
    /// login falls back to the app or SMS codes. Audited `by: operator`; prints how many.
    RemovePasskeys {
        #[arg(long)]
        username: String,
    },
    /// The per-purpose key documents an operator stores as Secrets Manager secrets (one file
    /// per purpose, owner-only; key material is never printed). See infra/README.md.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Creates the DynamoDB table (--table or PORTAL_TABLE, default infra/'s local table) as infra/ does: on-demand, pk/sk, TTL on
    /// expires_at, NEW_AND_OLD_IMAGES stream, encryption, point-in-time recovery.
    InitTable,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Fresh keys of every purpose (and the CloudFront origin secret), for a new deployment.
    /// Refuses to overwrite.
    Generate {
        /// Directory to write the documents into (created owner-only).
        #[arg(long)]
        out: PathBuf,
    },
    /// The keys of a local keys.json (default: the data dir's), split by purpose. Refuses to
    /// overwrite.
    Split {
        /// The key file to split.
        #[arg(long)]
        keys: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Puts a new token signing key first in token-signing.json and its public half in
    /// token-verifying.json (in --dir); the old keys keep verifying.
    Rotate {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Prints the public JWKS of buypass-client-key.json in --dir (for the client registration
    /// at Buypass; never the private key).
    Jwks {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Drops an old signing key from both token documents, once every token it signed has
    /// expired.
    Retire {
        #[arg(long)]
        dir: PathBuf,
        kid: String,
    },
}

fn keys_command(data_dir: &std::path::Path, action: &KeysAction) -> anyhow::Result<String> {
    use portal_core::security::key_parts::{read_documents, write_documents, KeyParts};
    use portal_core::security::keys::KeyMaterial;
    let listing = |dir: &std::path::Path, parts: &KeyParts, files: Vec<PathBuf>| {
        let kids: Vec<String> = parts.signing.iter().flatten().map(|k| k.kid.clone()).collect();
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        format!(
            "wrote {} (in {}); signing kids, first signs: {}",
            files.join(", "),
            dir.display(),
            kids.join(", ")
        )
    };
    match action {
        KeysAction::Generate { out } => {
            let mut material = KeyMaterial::generate()?;
            material.extra.insert(
                portal_core::buypass::keys::CLIENT_KEY_NAME.into(),
                portal_core::buypass::keys::Es256Key::generate()?.encoded(),
            );
            let mut parts = KeyParts::from_material(&material)?;
            parts.origin_verify = Some(vec![KeyParts::generate_origin_secret()]);
            let files = write_documents(out, &parts, false)?;
            Ok(listing(out, &parts, files))
        }
        KeysAction::Split { keys, out } => {
            let path = keys.clone().unwrap_or_else(|| data_dir.join("keys.json"));
            let raw = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let mut parts = KeyParts::from_material(&KeyMaterial::from_json(&raw)?)?;
            // A local key file has no origin secret (no CloudFront locally): a fresh one.
            parts.origin_verify = Some(vec![KeyParts::generate_origin_secret()]);
            let files = write_documents(out, &parts, false)?;
            Ok(listing(out, &parts, files))
        }
        KeysAction::Rotate { dir } => {
            let mut parts = read_documents(dir)?;
            let kid = parts.rotate_signing()?;
            let tokens = parts.only(&[
                portal_core::security::key_parts::KeyPurpose::TokenSigning,
                portal_core::security::key_parts::KeyPurpose::TokenVerifying,
            ]);
            let files = write_documents(dir, &tokens, true)?;
            Ok(format!(
                "{}\nnew signing key {kid}: put token-verifying.json first, then token-signing.json",
                listing(dir, &tokens, files)
            ))
        }
        KeysAction::Jwks { dir } => {
            let parts = read_documents(dir)?;
            let encoded = parts
                .buypass_client_key
                .ok_or_else(|| anyhow::anyhow!("{}: no buypass-client-key.json", dir.display()))?;
            let key = portal_core::buypass::keys::Es256Key::from_encoded(&encoded)?;
            Ok(serde_json::to_string_pretty(&key.jwks())?)
        }
        KeysAction::Retire { dir, kid } => {
            let mut parts = read_documents(dir)?;
            parts.retire(kid)?;
            let tokens = parts.only(&[
                portal_core::security::key_parts::KeyPurpose::TokenSigning,
                portal_core::security::key_parts::KeyPurpose::TokenVerifying,
            ]);
            let files = write_documents(dir, &tokens, true)?;
            Ok(format!(
                "{}\nretired {kid}: put token-signing.json first, then token-verifying.json",
                listing(dir, &tokens, files)
            ))
        }
    }
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

/// The operator's choice of initial password: the first line of standard input with
/// `--password-stdin`, else `PORTAL_NEW_PASSWORD`, else none (one is generated). Never a
/// command-line argument.
fn operator_password(
    from_stdin: bool,
    from_env: Option<String>,
    read_stdin: impl FnOnce() -> std::io::Result<String>,
) -> anyhow::Result<Option<Password>> {
    if from_stdin {
        let line = read_stdin().map_err(|e| anyhow::anyhow!("reading the password from standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(
            !password.is_empty(),
            "--password-stdin: standard input held no password"
        );
        return Ok(Some(Password::new(password.to_owned())));
    }
    Ok(from_env.filter(|p| !p.is_empty()).map(Password::new))
}

fn username(raw: &str) -> anyhow::Result<Username> {
    Username::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The configuration tree: the flags over the environment, `store` forcing the backend.
fn deployment(args: &Args, store: Option<&str>) -> anyhow::Result<Deployment> {
    Ok(local_deployment(
        &args.data_dir,
        None,
        &BackendFlags {
            store: store.map(str::to_owned).or_else(|| args.backend.store.clone()),
            ..args.backend.clone()
        }
        .overrides(),
    )?)
}

async fn init_table(args: &Args) -> anyhow::Result<String> {
    let StoreConfig::DynamoDb { table } = deployment(args, Some("dynamodb"))?.store else {
        anyhow::bail!("init-table creates a DynamoDB table");
    };
    let sdk = portal_core::aws::load_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    Ok(match create_table(&client, &table).await? {
        TableCreated::Created => format!("created table {table}"),
        TableCreated::AlreadyExisted => format!("table {table} exists already; left unchanged"),
    })
}

async fn run(args: Args) -> anyhow::Result<String> {
    if matches!(args.command, Command::InitTable) {
        return init_table(&args).await;
    }
    if let Command::Keys { action } = &args.command {
        return keys_command(&args.data_dir, action);
    }
    let deployment = deployment(&args, None)?;
    let announce = Announce::choose(
        args.gateway_events.as_deref(),
        &deployment.store,
        args.gateway_topic_arn.as_deref(),
    )?;
    let env = LocalEnv::open(deployment, false).await?;
    let app = env.app(None)?;
    match args.command {
        Command::InitTable => init_table(&args).await,
        Command::Keys { action } => keys_command(&args.data_dir, &action),
        Command::CreateAccount {
            username: u,
            name,
            mobile,
            email,
            home_office,
            password_stdin,
            password,
        } => {
            if password.is_some() {
                anyhow::bail!(
                    "--password is not accepted: a password on the command line shows in `ps` and the shell history. \
                     Set PORTAL_NEW_PASSWORD or pipe it to --password-stdin, or leave both out to have one generated and sent by SMS"
                );
            }
            let password = match operator_password(password_stdin, std::env::var("PORTAL_NEW_PASSWORD").ok(), || {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map(|_| line)
            })? {
                Some(p) => InitialPassword::ChosenByOperator(p),
                None => InitialPassword::Generated,
            };
            let username = username(&u)?;
            let mobile = MobileNumber::parse(&mobile).map_err(|e| anyhow::anyhow!("{e}"))?;
            let generated = app
                .create_account(NewAccount {
                    username: username.clone(),
                    name,
                    email,
                    mobile: mobile.clone(),
                    home_office,
                    password,
                })
                .await?;
            let how = if generated.is_some() {
                "generated and sent by SMS"
            } else {
                "as given; the user must change it at first login"
            };
            Ok(format!(
                "created {username} (mobile {}, password {how})",
                mobile.masked()
            ))
        }
        Command::Disable { username: u } => {
            let updated = app.set_disabled(&username(&u)?, true).await?;
            let card = publish_revocation(&env, &app, &announce, updated.revoked_serial.as_ref()).await?;
            Ok(format!("disabled {u}; all sessions ended{card}"))
        }
        Command::Enable { username: u } => {
            app.set_disabled(&username(&u)?, false).await?;
            Ok(format!("enabled {u}"))
        }
        Command::SetHomeOffice { username: u, state } => {
            let updated = app.set_home_office(&username(&u)?, state == "on").await?;
            let card = publish_revocation(&env, &app, &announce, updated.revoked_serial.as_ref()).await?;
            Ok(format!("home office {state} for {u}{card}"))
        }
        Command::BuypassClientJwks => Ok(serde_json::to_string_pretty(&env.buypass_client_key.jwks())?),
        Command::RevokeSerial { serial, issuer, reason } => {
            let card = card_to_revoke(&app, &serial, issuer.as_deref()).await?;
            let revoked = app.revoke_serial(&card, &reason).await?;
            let outcome = announce_to_gateway(&env, &app, &announce, &card).await?;
            Ok(if revoked {
                format!("revoked {} of issuer {} ({outcome})", card.serial, card.issuer_id)
            } else {
                format!(
                    "{} of issuer {} was already revoked ({outcome})",
                    card.serial, card.issuer_id
                )
            })
        }
        Command::RepairCards => {
            let cards = app.repair_active_cards().await?;
            let mut lines = Vec::new();
            for card in &cards {
                let outcome = announce_to_gateway(&env, &app, &announce, card).await?;
                lines.push(format!(
                    "revoked {} of issuer {} ({outcome})",
                    card.serial, card.issuer_id
                ));
            }
            lines.push(format!("{} card(s) revoked", cards.len()));
            Ok(lines.join("\n"))
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
        Command::Incidents => {
            let open = app.open_incidents().await?;
            if open.is_empty() {
                return Ok("no open incidents".into());
            }
            Ok(open
                .iter()
                .map(|i| {
                    format!(
                        "{}  opened {}  last report {}  reports {}  from {}  card revoked {}",
                        i.username,
                        portal_core::clock::rfc3339(i.opened_at),
                        portal_core::clock::rfc3339(i.last_reported_at),
                        i.reports,
                        i.network.as_deref().unwrap_or("-"),
                        i.card_revoked.as_deref().unwrap_or("-"),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Command::IncidentClose { username: u } => {
            let user = username(&u)?;
            Ok(if app.close_incident(&user).await? {
                format!("incident of {user} closed")
            } else {
                format!("{user} has no open incident")
            })
        }
        Command::TotpStatus { username: u } => {
            let user = username(&u)?;
            let status = app.admin_totp_status(&user).await?;
            Ok(serde_json::to_string_pretty(&json!({
                "username": user,
                "totp": if status.enabled { "enabled" } else { "not_enrolled" },
                "enabled_at": status.enabled_at.map(portal_core::clock::rfc3339),
                "enrolment_pending": status.pending,
            }))?)
        }
        Command::RemoveTotp { username: u } => {
            let user = username(&u)?;
            if app.admin_remove_totp(&user).await? {
                Ok(format!(
                    "removed the authenticator app of {user}; login uses SMS codes again"
                ))
            } else {
                Ok(format!("{user} has no authenticator app; nothing removed"))
            }
        }
        Command::RemovePasskeys { username: u } => remove_passkeys_command(&app, &u).await,
        Command::SetLanguage { username: u, language } => {
            let lang = portal_core::i18n::Lang::parse(&language)
                .ok_or_else(|| anyhow::anyhow!("unknown language {language}"))?;
            app.update_account(&username(&u)?, |a| a.language = lang).await?;
            Ok(format!("language {language} for {u}"))
        }
        Command::AllowCountry {
            username: u,
            country_code,
        } => sms_country_command(&app, &u, &country_code, true).await,
        Command::DisallowCountry {
            username: u,
            country_code,
        } => sms_country_command(&app, &u, &country_code, false).await,
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
                "language": account.language,
                "sms_countries": account.sms_countries.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "buypass_serial": account.buypass_serial,
                "buypass_issuer": account.buypass_issuer,
                "created_at": portal_core::clock::rfc3339(account.created_at),
            }))?)
        }
    }
}

/// `remove-passkeys`.
async fn remove_passkeys_command(app: &SharedApp, user: &str) -> anyhow::Result<String> {
    let user = username(user)?;
    Ok(match app.admin_remove_passkeys(&user).await? {
        0 => format!("{user} has no passkeys; nothing removed"),
        n => format!("removed {n} passkey(s) of {user}"),
    })
}

/// `allow-country` / `disallow-country`.
async fn sms_country_command(app: &SharedApp, user: &str, raw_code: &str, allow: bool) -> anyhow::Result<String> {
    let code = portal_core::domain::CountryCode::parse(raw_code).map_err(|e| anyhow::anyhow!("{e}"))?;
    let username = username(user)?;
    let changed = if allow {
        app.allow_sms_country(&username, code).await?
    } else {
        app.disallow_sms_country(&username, code).await?
    };
    Ok(match (allow, changed) {
        (true, true) => format!("{user} may now get SMS at numbers in {code}"),
        (true, false) => format!("{user} was already allowed {code}"),
        (false, true) => format!("{user} gets no more SMS at numbers in {code}"),
        (false, false) => format!("{user} had no allowance for {code}"),
    })
}

/// How `portal-admin` tells the gateway about a card it revoked.
#[derive(Debug, PartialEq)]
enum Announce {
    /// The event log in the store (portal-local's gateway stand-in reads it).
    Local,
    /// The gateway's SNS topic, directly.
    Sns(String),
    /// Nothing here: the write reaches the serial-activation function through the table's
    /// stream (and its sweep, should the stream lose it), and it publishes to the gateway's
    /// topic. Announcing here would take that work away from it.
    ByFunction,
}

impl Announce {
    /// `--gateway-events` if given; otherwise the store's event log locally (SQLite) and the
    /// serial-activation function in AWS (DynamoDB).
    fn choose(flag: Option<&str>, store: &StoreConfig, topic_arn: Option<&str>) -> anyhow::Result<Self> {
        Ok(match (flag, store) {
            (Some("local"), _) | (None, StoreConfig::Sqlite { .. }) => Announce::Local,
            (Some("sns"), _) => Announce::Sns(topic_arn.map(str::to_owned).ok_or_else(|| {
                anyhow::anyhow!("--gateway-events sns needs the topic: --gateway-topic-arn or PORTAL_GATEWAY_TOPIC_ARN")
            })?),
            _ => Announce::ByFunction,
        })
    }
}

/// The card `revoke-serial` means: by issuer and serial, or by serial alone when only one
/// issuer has it registered.
async fn card_to_revoke(app: &SharedApp, serial: &str, issuer: Option<&str>) -> anyhow::Result<CardKey> {
    let serial = CertificateSerial::parse(serial).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(issuer) = issuer {
        let issuer = IssuerId::parse(issuer).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(CardKey::new(issuer, serial));
    }
    let mut cards = app.cards_with_serial(&serial).await?;
    match cards.len() {
        0 => anyhow::bail!("no card with serial {serial} is registered"),
        1 => Ok(cards.remove(0)),
        _ => anyhow::bail!(
            "serial {serial} is registered under {} issuers; name one with --issuer: {}",
            cards.len(),
            cards
                .iter()
                .map(|c| c.issuer_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Tells the gateway about a revoked card, as `announce` says; describes what happened.
async fn announce_to_gateway(
    env: &LocalEnv,
    app: &SharedApp,
    announce: &Announce,
    card: &CardKey,
) -> anyhow::Result<String> {
    let gateway: Arc<dyn GatewayEvents> = match announce {
        Announce::ByFunction => {
            return Ok("the serial-activation function announces it to the gateway".into());
        }
        Announce::Local => Arc::new(LocalGatewayEvents::new(env.store.clone(), app.clock.clone(), false)),
        Announce::Sns(topic_arn) => {
            let sdk = portal_core::aws::load_sdk_config().await;
            Arc::new(SnsGatewayEvents::new(aws_sdk_sns::Client::new(&sdk), topic_arn.clone()))
        }
    };
    let activator = Activator::new(app.clone(), gateway, ActivationPolicy::default(), false);
    let outcome: Outcome = activator.process(card, Trigger::Event).await?;
    Ok(format!("{outcome:?}"))
}

/// For the reply: which card a disable / home-office-off revoked, after announcing it.
async fn publish_revocation(
    env: &LocalEnv,
    app: &SharedApp,
    announce: &Announce,
    revoked: Option<&CardKey>,
) -> anyhow::Result<String> {
    let Some(card) = revoked else {
        return Ok(String::new());
    };
    let outcome = announce_to_gateway(env, app, announce, card).await?;
    Ok(format!("; card {} revoked ({outcome})", card.serial))
}

/// One event per line: time, event, source address, detail. Details hold masked numbers and
/// reasons only; secrets are never recorded in the first place.
fn audit_line(event: &portal_core::audit::AuditEvent) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_are_left_to_the_function_on_dynamodb_unless_told_otherwise() {
        let dynamodb = StoreConfig::DynamoDb { table: "t".into() };
        let sqlite = StoreConfig::Sqlite {
            path: "portal.db".into(),
        };
        const TOPIC: &str = "arn:aws:sns:eu-north-1:123456789012:gateway";
        let topic = Some(TOPIC);
        assert_eq!(Announce::choose(None, &dynamodb, topic).unwrap(), Announce::ByFunction);
        assert_eq!(Announce::choose(None, &sqlite, None).unwrap(), Announce::Local);
        assert_eq!(
            Announce::choose(Some("local"), &dynamodb, None).unwrap(),
            Announce::Local
        );
        assert_eq!(
            Announce::choose(Some("sns"), &dynamodb, topic).unwrap(),
            Announce::Sns(TOPIC.to_owned())
        );
        assert!(
            Announce::choose(Some("sns"), &dynamodb, None).is_err(),
            "sns without a topic"
        );
        assert_eq!(
            Announce::choose(Some("function"), &sqlite, None).unwrap(),
            Announce::ByFunction
        );
    }

    #[test]
    fn the_operator_password_comes_from_stdin_or_the_environment_never_the_command_line() {
        let no_stdin = || -> std::io::Result<String> { panic!("stdin read without --password-stdin") };
        let from = |p: Option<Password>| p.map(|p| p.expose().to_owned());
        assert_eq!(from(operator_password(false, None, no_stdin).unwrap()), None);
        assert_eq!(
            from(operator_password(false, Some("fra miljøet sitt".into()), no_stdin).unwrap()),
            Some("fra miljøet sitt".into())
        );
        assert_eq!(
            from(operator_password(true, Some("ignored".into()), || Ok("fra stdin  \r\n".into())).unwrap()),
            Some("fra stdin  ".into()),
            "only the line ending is cut"
        );
        assert!(operator_password(true, None, || Ok("\n".into())).is_err());
        for args in [
            vec![
                "portal-admin",
                "create-account",
                "--username",
                "kari",
                "--name",
                "K",
                "--mobile",
                "+4791234567",
                "--password",
                "hemmelig passord",
            ],
            vec![
                "portal-admin",
                "create-account",
                "--username",
                "kari",
                "--name",
                "K",
                "--mobile",
                "+4791234567",
                "--password=hemmelig passord",
            ],
        ] {
            let parsed = Args::try_parse_from(&args).unwrap();
            let Command::CreateAccount { password, .. } = parsed.command else {
                panic!()
            };
            assert!(password.is_some(), "--password is seen (and then refused): {args:?}");
        }
    }

    #[tokio::test]
    async fn revoke_serial_names_the_issuer_only_when_two_issuers_share_the_serial() {
        use portal_core::buypass::certificate::AcceptedCertificate;
        let t = portal_testkit::TestApp::in_memory();
        let cert = |issuer: &[u8], serial: &str| AcceptedCertificate {
            serial: CertificateSerial::parse(serial).unwrap(),
            issuer_id: IssuerId::from_issuer_der(issuer),
            subject: "CN=Test".into(),
            issuer: "CN=CA".into(),
            not_after: t.app.now() + 3600,
        };
        let kari = t.account("kari", "korrekt hest batteri stift", "+4791234567").await;
        let ola = t.account("ola", "korrekt hest batteri stift", "+4791234568").await;
        let (a, b) = (cert(b"CA A", "0A1B"), cert(b"CA B", "0A1B"));
        t.app.register_serial(&kari, &a, None, None).await.unwrap();
        assert_eq!(
            card_to_revoke(&t.app, "0a:1b", None).await.unwrap(),
            CardKey::of(&a),
            "one issuer: the serial is enough"
        );
        t.app.register_serial(&ola, &b, None, None).await.unwrap();
        let refused = card_to_revoke(&t.app, "0A1B", None).await.unwrap_err().to_string();
        assert!(
            refused.contains("2 issuers") && refused.contains("--issuer"),
            "{refused}"
        );
        assert!(refused.contains(b.issuer_id.as_str()), "{refused}");
        let chosen = card_to_revoke(&t.app, "0A1B", Some(b.issuer_id.as_str()))
            .await
            .unwrap();
        assert_eq!(chosen, CardKey::of(&b));
        assert!(card_to_revoke(&t.app, "0A1B", Some("not-an-issuer")).await.is_err());
        assert!(card_to_revoke(&t.app, "FFFF", None).await.is_err(), "no such serial");
    }

    #[tokio::test]
    async fn allow_country_opens_one_country_for_one_account_and_disallow_closes_it() {
        let t = portal_testkit::TestApp::in_memory();
        let kari = t.account("kari", "korrekt hest batteri stift", "+4791234567").await;
        let said = sms_country_command(&t.app, "kari", "+46", true).await.unwrap();
        assert!(said.contains("+46"), "{said}");
        let again = sms_country_command(&t.app, "kari", "46", true).await.unwrap();
        assert!(again.contains("already"), "{again}");
        assert_eq!(
            t.app.account(&kari).await.unwrap().sms_countries,
            vec![portal_core::domain::CountryCode::parse("46").unwrap()]
        );
        for (user, code) in [("kari", "4"), ("kari", "47"), ("nobody", "46")] {
            assert!(
                sms_country_command(&t.app, user, code, true).await.is_err(),
                "{user} {code}"
            );
        }
        sms_country_command(&t.app, "kari", "46", false).await.unwrap();
        assert!(t.app.account(&kari).await.unwrap().sms_countries.is_empty());
        let trail: Vec<_> = t
            .app
            .repo
            .audit_trail(&kari, t.app.now())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        use portal_core::audit::AuditKind;
        assert_eq!(
            trail.iter().filter(|k| **k == AuditKind::SmsCountryAllowed).count(),
            1,
            "the repeated allow changed nothing and is not audited"
        );
        assert!(trail.contains(&AuditKind::SmsCountryDisallowed));
    }

    #[tokio::test]
    async fn remove_passkeys_removes_every_passkey_of_the_account_and_audits_the_operator() {
        use portal_core::audit::AuditKind;
        use portal_core::config::{Policy, Settings};
        use portal_core::domain::PasskeyName;
        const PASSWORD: &str = "korrekt hest batteri stift";
        const PORTAL: &str = "https://portal.example.test";
        let settings = Settings {
            portal_url: PORTAL.into(),
            ..Settings::default()
        };
        let store = Arc::new(portal_core::store::sqlite::SqliteStore::in_memory().unwrap());
        let t = portal_testkit::TestApp::with_settings(store, Policy::default(), settings);
        let kari = t.account("kari", PASSWORD, "+4791234567").await;
        let ola = t.account("ola", PASSWORD, "+4791234568").await;
        let password = Password::new(PASSWORD.into());
        for (user, name) in [(&kari, "Telefon"), (&kari, "Nøkkel"), (&ola, "Telefon")] {
            let mut device = portal_testkit::PasskeyDevice::new();
            // Fresh: the second passkey of an account needs a step-up, as in the portal.
            let fresh = Some(t.app.now());
            let started = t
                .app
                .start_passkey_enrolment(user, fresh, &password, None)
                .await
                .unwrap();
            let options = serde_json::to_value(&started.options).unwrap();
            let credential = device.register(PORTAL, &options).unwrap();
            t.app
                .confirm_passkey_enrolment(
                    user,
                    fresh,
                    &started.registration_id,
                    PasskeyName::parse(name).unwrap(),
                    &serde_json::from_value(credential).unwrap(),
                    None,
                )
                .await
                .unwrap();
        }
        assert_eq!(t.app.list_passkeys(&kari).await.unwrap().len(), 2);

        let said = remove_passkeys_command(&t.app, "kari").await.unwrap();
        assert_eq!(said, "removed 2 passkey(s) of kari");
        assert!(t.app.list_passkeys(&kari).await.unwrap().is_empty());
        assert_eq!(t.app.list_passkeys(&ola).await.unwrap().len(), 1, "only kari's");
        let removals: Vec<_> = t
            .app
            .repo
            .audit_trail(&kari, t.app.now())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == AuditKind::PasskeyRemoved)
            .collect();
        assert_eq!(removals.len(), 2);
        assert!(removals.iter().all(|e| e.detail["by"] == "operator"), "{removals:?}");

        let again = remove_passkeys_command(&t.app, "kari").await.unwrap();
        assert_eq!(again, "kari has no passkeys; nothing removed");
        let unknown = remove_passkeys_command(&t.app, "finnes.ikke").await.unwrap_err();
        assert!(unknown.to_string().contains("no account"), "{unknown}");
        let parsed = Args::try_parse_from(["portal-admin", "remove-passkeys", "--username", "kari"]).unwrap();
        assert!(matches!(parsed.command, Command::RemovePasskeys { username } if username == "kari"));
    }

    #[test]
    fn key_documents_from_a_local_key_file_match_it_and_rotation_keeps_the_old_kid_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let (material, _) = portal_core::security::keys::KeyMaterial::load_or_create(dir.path()).unwrap();
        let out = dir.path().join("secrets");
        let said = keys_command(
            dir.path(),
            &KeysAction::Split {
                keys: None,
                out: out.clone(),
            },
        )
        .unwrap();
        assert!(!said.contains(&material.code_pepper), "{said}");
        assert!(!said.contains(&material.signing_keys[0].pkcs8), "{said}");
        let parts = portal_core::security::key_parts::read_documents(&out).unwrap();
        assert_eq!(parts.code_pepper, Some(material.pepper().unwrap()));
        assert!(parts.origin_verify.is_some_and(|v| v.len() == 1 && v[0].len() >= 32));
        assert!(keys_command(
            dir.path(),
            &KeysAction::Split {
                keys: None,
                out: out.clone()
            }
        )
        .is_err());
        let jwks = keys_command(dir.path(), &KeysAction::Jwks { dir: out.clone() });
        assert!(
            jwks.is_err(),
            "a local key file from load_or_create has no client key yet"
        );
        keys_command(dir.path(), &KeysAction::Rotate { dir: out.clone() }).unwrap();
        let rotated = portal_core::security::key_parts::read_documents(&out).unwrap();
        let kids: Vec<_> = rotated.verifying.unwrap().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1], material.signing_keys[0].kid);
    }
}
