//! `delightchat`: parses the command line and hands over to [`delightchat::cli::run`].

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    delightchat::observability::init_tracing();
    delightchat::cli::run(delightchat::cli::Cli::parse()).await
}
