//! `carillon`: one binary for every Carillon service.
//!
//! `carillon serve` runs the admin APIs, SMTP, submission and IMAP in one process;
//! `carillon accounts create` and `carillon keys create` manage tenants and access keys
//! directly in the store (they work while a server runs); `carillon exports get` reads a
//! mailbox export file decrypted.

mod admin;
mod chime_mail;
mod config;
mod phone_numbers;
mod serve;
mod tls;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::{ServeArgs, StoreArgs};

#[derive(Debug, Parser)]
#[command(
    name = "carillon",
    version,
    about = "Self-hosted business communications server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service (admin APIs, SMTP, submission, IMAP, background jobs).
    Serve(Box<ServeArgs>),
    /// Manage accounts (tenants).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage access keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Read mailbox export output (sealed at rest under the job's KmsKeyArn).
    Exports {
        #[command(subcommand)]
        command: ExportsCommand,
    },
    /// Manage the operator's Chime phone numbers (the pool tenants order from).
    #[command(subcommand)]
    PhoneNumbers(phone_numbers::PhoneNumbersCommand),
}

#[derive(Debug, Subcommand)]
enum ExportsCommand {
    /// Write one export file decrypted to stdout (or --out): the object `<key>` of bucket
    /// `<bucket>` as StartMailboxExportJob named them, e.g. `--bucket b --key
    /// prefix/<job id>/messages/INBOX/1.eml`.
    Get {
        /// The job's S3BucketName.
        #[arg(long)]
        bucket: String,
        /// The object key: `<S3Prefix>/<JobId>/<file>`.
        #[arg(long)]
        key: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Create an account with its own administrator access key.
    Create {
        /// Account name (unique).
        #[arg(long)]
        name: String,
        /// Where to write the administrator key (AWS shared-credentials format, mode 0600).
        #[arg(long)]
        credentials_out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a principal with a managed policy and an access key for it.
    Create {
        /// Account ID (default: the bootstrap account).
        #[arg(long)]
        account: Option<String>,
        /// Managed policy to attach, e.g. AmazonWorkMailReadOnlyAccess.
        #[arg(long)]
        policy: String,
        /// Where to write the key (AWS shared-credentials format, mode 0600).
        #[arg(long)]
        credentials_out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args.resolve()?).await,
        Command::PhoneNumbers(command) => phone_numbers::run(command).await,
        Command::Accounts {
            command:
                AccountsCommand::Create {
                    name,
                    credentials_out,
                    store,
                },
        } => {
            let iam = serve::open_iam(&store.resolve()?).await?;
            let (account, key) = iam.create_account(&name).await?;
            carillon_iam::write_credentials_file(&credentials_out, &key)?;
            println!("account {} {}", account.account_id, account.name);
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    account,
                    policy,
                    credentials_out,
                    store,
                },
        } => {
            let iam = serve::open_iam(&store.resolve()?).await?;
            let key = iam.create_access_key(account.as_deref(), &policy).await?;
            carillon_iam::write_credentials_file(&credentials_out, &key)?;
            println!("key {} account {}", key.access_key_id, key.account_id);
            Ok(())
        }
        Command::Exports {
            command:
                ExportsCommand::Get {
                    bucket,
                    key,
                    out,
                    store,
                },
        } => {
            let store = serve::open_store(&store.resolve()?, serve::DEFAULT_REGION).await?;
            let data = carillon_mail::export::read_export_object(&store, &bucket, &key).await?;
            match out {
                Some(path) => std::fs::write(&path, &data)?,
                None => std::io::Write::write_all(&mut std::io::stdout().lock(), &data)?,
            }
            Ok(())
        }
    }
}
