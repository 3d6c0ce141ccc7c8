//! `portal-bench`: the benchmarks of issue 8 that criterion does not fit, reporting ratios
//! measured side by side in one run (absolute times drift on shared machines; ratios hold).
//!
//! `cargo run --release -p portal-bench -- all` (or `scripts/bench.sh`); `--quick` is the
//! smoke mode CI runs to keep the benchmarks compiling and working.

mod login;
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
    /// Everything.
    All,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = if args.quick { 0.5 } else { 8.0 };
    match args.command {
        Command::Login | Command::All => login::run(seconds).await?,
    }
    Ok(())
}
