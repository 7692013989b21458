//! `carillon phone-numbers import FILE.csv`: adds the numbers the operator owns to the pool
//! the built-in carrier adapter serves to tenants (SearchAvailablePhoneNumbers,
//! CreatePhoneNumberOrder). Spec: chime-zh.md §1.12; the country table chime-ja.md §4.2.
//!
//! One number per line: `E.164,country,type,capabilities[,city[,state]]`, e.g.
//! `+12065550100,US,Local,voice;sms,Seattle,WA`. Importing the same file again changes
//! nothing. Good lines are imported; bad lines are listed with their line numbers on stderr
//! and the command exits with status 1.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::StoreArgs;
use crate::serve;

/// `carillon phone-numbers …`.
#[derive(Debug, Subcommand)]
pub enum PhoneNumbersCommand {
    /// Import the operator's phone numbers from a CSV file (E.164, country, type
    /// (Local|TollFree), capabilities (voice;sms;mms), optional city and state).
    Import {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs `command`; the process exit status is 1 when a line was refused.
pub async fn run(command: PhoneNumbersCommand) -> Result<()> {
    match command {
        PhoneNumbersCommand::Import { file, store } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let store = serve::open_store(&store.resolve()?, serve::DEFAULT_REGION).await?;
            let summary = carillon_chime::carrier::import_csv(&store, &text).await?;
            for refused in &summary.refused {
                eprintln!("{}:{}: {}", file.display(), refused.line, refused.reason);
            }
            println!(
                "phone numbers: {} imported, {} updated, {} unchanged, {} refused",
                summary.inserted,
                summary.updated,
                summary.unchanged,
                summary.refused.len()
            );
            if !summary.refused.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
