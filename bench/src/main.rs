//! `portal-bench`: the benchmarks of issue 8 that criterion does not fit, reporting ratios
//! measured side by side in one run (absolute times drift on shared machines; ratios hold).
//!
//! `cargo run --release -p portal-bench -- all` (or `scripts/bench.sh`, which also starts the
//! AWS emulator the ledger and the cost model need); `--quick` is the smoke mode CI runs to
//! keep the benchmarks compiling and working.

mod cost;
mod lambda;
mod ledger;
mod login;
mod meter;
mod report;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Hjemmekontor portal benchmarks")]
struct Args {
    /// Short runs (CI smoke mode): checks the benchmarks work, figures are not meaningful.
    #[arg(long, global = true)]
    quick: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Logins per second per core through the whole login handler vs the bare argon2id rate.
    Login,
    /// Cold start, memory and size of every Lambda function against a minimal function.
    Lambda {
        /// Where the function binaries are (default: target/release).
        #[arg(long)]
        binaries: Option<std::path::PathBuf>,
    },
    /// DynamoDB round trips, items, capacity units, SNS and Secrets Manager calls of every
    /// API operation, on the AWS emulator (`PORTAL_TEST_AWS_ENDPOINT`, as scripts/bench.sh sets).
    Ledger,
    /// The ledger, then the price of one million complete logins (bench/prices-eu-north-1.toml).
    Cost,
    /// Everything.
    All,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = if args.quick { 0.5 } else { 8.0 };
    let (runs, invocations) = if args.quick { (2, 5) } else { (25, 100) };
    let default_binaries = || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    match args.command {
        Command::Login => login::run(seconds).await?,
        Command::Lambda { binaries } => {
            lambda::run(&binaries.unwrap_or_else(default_binaries), runs, invocations).await?;
        }
        Command::Ledger => {
            ledger::run().await?;
        }
        Command::Cost => {
            let ledger = ledger::run().await?;
            cost::run(&ledger, args.quick).await?;
        }
        Command::All => {
            login::run(seconds).await?;
            lambda::run(&default_binaries(), runs, invocations).await?;
            let ledger = ledger::run().await?;
            cost::run(&ledger, args.quick).await?;
        }
    }
    Ok(())
}
