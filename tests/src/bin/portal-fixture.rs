//! `portal-fixture`: creates test accounts whose password is already their own (no change
//! required at first login), on the same data as `portal-admin`.
//!
//! The operators' tool cannot do this on purpose: every password an operator types is known
//! to someone other than the user, so `portal-admin create-account` always requires a change.
//! The end-to-end, browser, contract and load tests need accounts that log straight in, so
//! they create them here, through the portal library, as the rule tests' `TestApp` does. This
//! binary belongs to the test crate and is never deployed.
//!
//! Usage: `PORTAL_NEW_PASSWORD=… portal-fixture [--data-dir D] [--store sqlite|dynamodb]
//! [--table T] create-account --username U --mobile +47… [--name N] [--home-office]`

use std::path::PathBuf;
use std::process::ExitCode;

use portal_core::domain::{MobileNumber, Password, Username};
use portal_core::services::admin::{InitialPassword, NewAccount};
use portal_local::env::{local_deployment, LocalEnv};

struct Args {
    data_dir: PathBuf,
    /// `--store` and `--table`, read with the environment by the shared configuration tree.
    store: Option<String>,
    table: Option<String>,
    username: String,
    name: String,
    mobile: String,
    home_office: bool,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut data_dir = PathBuf::from(".portal-data");
    let (mut store, mut table) = (None, None);
    let (mut username, mut name, mut mobile, mut home_office) = (None, String::from("Test Bruker"), None, false);
    let mut command = None;
    while let Some(arg) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data-dir" => data_dir = value()?.into(),
            "--store" => store = Some(value()?),
            "--table" => table = Some(value()?),
            "--username" => username = Some(value()?),
            "--name" => name = value()?,
            "--mobile" => mobile = Some(value()?),
            "--home-office" => home_office = true,
            "create-account" => command = Some(arg),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    command.ok_or("the only command is create-account")?;
    Ok(Args {
        data_dir,
        store,
        table,
        username: username.ok_or("--username is required")?,
        name,
        mobile: mobile.ok_or("--mobile is required")?,
        home_office,
    })
}

async fn run(args: Args) -> anyhow::Result<String> {
    let password = std::env::var("PORTAL_NEW_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| anyhow::anyhow!("PORTAL_NEW_PASSWORD is required"))?;
    let username = Username::parse(&args.username).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mobile = MobileNumber::parse(&args.mobile).map_err(|e| anyhow::anyhow!("{e}"))?;
    let deployment = local_deployment(
        &args.data_dir,
        None,
        &[
            ("PORTAL_STORE", args.store),
            ("PORTAL_TABLE", args.table),
            // A fixture never texts anyone.
            ("PORTAL_SMS", Some("outbox".into())),
        ],
    )?;
    let env = LocalEnv::open(deployment, false).await?;
    let app = env.app(None)?;
    app.create_account(NewAccount {
        username: username.clone(),
        name: args.name,
        email: None,
        mobile,
        home_office: args.home_office,
        password: InitialPassword::Permanent(Password::new(password)),
    })
    .await?;
    Ok(format!("created test account {username}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("portal-fixture: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portal-fixture: {e}");
            ExitCode::FAILURE
        }
    }
}
