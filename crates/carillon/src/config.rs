//! Configuration: a TOML file (`--config`) whose keys mirror the command-line flags, flags
//! overriding the file, and embedded defaults for a fresh machine.
//!
//! Spec: PRODUCT.md "Runtime shape" (embedded default: `./carillon-data`, SQLite, blobs in a
//! directory, self-signed certificate, loopback listeners on unprivileged ports).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;

/// Options shared by every subcommand that opens the store.
#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// Data directory (SQLite file, blobs, TLS material, admin credentials).
    #[arg(long, env = "CARILLON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file; its keys are the long flag names with `_` for `-`.
    #[arg(long, env = "CARILLON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Metadata database: `sqlite://PATH` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long, env = "CARILLON_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Flags of `carillon serve`.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Blob store: `file:///DIR` or `s3://bucket/prefix` (default: `<data-dir>/blobs`).
    #[arg(long)]
    pub blob_url: Option<String>,
    /// HTTP listener: admin APIs, health (default 127.0.0.1:8080).
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// SMTP listener, MX role (default 127.0.0.1:2525).
    #[arg(long)]
    pub smtp_addr: Option<SocketAddr>,
    /// Submission listener, STARTTLS + AUTH required (default 127.0.0.1:5870).
    #[arg(long)]
    pub submission_addr: Option<SocketAddr>,
    /// IMAP listener with STARTTLS (default 127.0.0.1:1143).
    #[arg(long)]
    pub imap_addr: Option<SocketAddr>,
    /// IMAP listener with implicit TLS (default 127.0.0.1:9930).
    #[arg(long)]
    pub imaps_addr: Option<SocketAddr>,
    /// Host name announced in SMTP/IMAP greetings and expected in MX records.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Region used in ARNs and expected in SigV4 credential scopes (default us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Base of each organization's test mail domain: `<alias>.<base>` (default localhost).
    #[arg(long)]
    pub test_domain_base: Option<String>,
    /// PEM certificate chain replacing the self-signed certificate (needs `--tls-key`).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Relay every outbound message through this `host:port` instead of the recipient's MX.
    #[arg(long)]
    pub smarthost: Option<String>,
    /// DNS server (`ip:port`) for MX lookups and domain verification (default: system).
    #[arg(long)]
    pub dns_resolver: Option<SocketAddr>,
    /// How long an outbound message may stay queued before it bounces, in seconds
    /// (default 432000 = 5 days).
    #[arg(long)]
    pub queue_lifetime_secs: Option<u64>,
    /// First retry delay of a temporarily failed outbound delivery, in seconds; later retries
    /// back off exponentially (default 60).
    #[arg(long)]
    pub queue_retry_secs: Option<u64>,
    /// Seconds between passes of the mailbox retention job (retention policies, purge of
    /// mailboxes disabled for more than 30 days; default 3600).
    #[arg(long)]
    pub retention_interval_secs: Option<u64>,
    /// PEM bundle of extra CA certificates Carillon's outgoing verified TLS trusts on top of
    /// the system roots: SMTP gateways (flow rules' "Route to SMTP gateway"), flow-rule hook
    /// endpoints and audit-log HTTP endpoints (a private CA, or a test's self-signed one).
    #[arg(long)]
    pub trusted_ca_file: Option<PathBuf>,
    /// The base URL clients reach the HTTP listener at, used in links Carillon hands out
    /// (Chime invitation links, incoming-webhook URLs, bot reply URLs); default
    /// `http://<bound HTTP address>`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Seconds between passes of the Chime chat retention job (default 86400, daily).
    #[arg(long)]
    pub chime_retention_interval_secs: Option<u64>,
}

/// The file form of the configuration: every key optional, same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    blob_url: Option<String>,
    http_addr: Option<SocketAddr>,
    smtp_addr: Option<SocketAddr>,
    submission_addr: Option<SocketAddr>,
    imap_addr: Option<SocketAddr>,
    imaps_addr: Option<SocketAddr>,
    hostname: Option<String>,
    region: Option<String>,
    test_domain_base: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    smarthost: Option<String>,
    dns_resolver: Option<SocketAddr>,
    queue_lifetime_secs: Option<u64>,
    queue_retry_secs: Option<u64>,
    retention_interval_secs: Option<u64>,
    trusted_ca_file: Option<PathBuf>,
    public_url: Option<String>,
    chime_retention_interval_secs: Option<u64>,
}

/// Where the metadata and blobs live.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub blob_url: String,
}

/// The resolved configuration of `carillon serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreConfig,
    pub http_addr: SocketAddr,
    pub smtp_addr: SocketAddr,
    pub submission_addr: SocketAddr,
    pub imap_addr: SocketAddr,
    pub imaps_addr: SocketAddr,
    pub hostname: String,
    pub region: String,
    pub test_domain_base: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub smarthost: Option<String>,
    pub dns_resolver: Option<SocketAddr>,
    pub queue_lifetime: Duration,
    pub queue_retry: Duration,
    pub retention_interval: Duration,
    /// Extra CA bundle of outgoing verified TLS (`--trusted-ca-file`): SMTP gateways, hooks,
    /// audit-log HTTP delivery.
    pub trusted_ca_file: Option<PathBuf>,
    /// Base URL of links handed out (`--public-url`); `None`: from the bound HTTP address.
    pub public_url: Option<String>,
    /// Interval of the Chime chat retention job.
    pub chime_retention_interval: Duration,
}

fn read_file_config(path: Option<&Path>) -> Result<FileConfig> {
    match path {
        None => Ok(FileConfig::default()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading configuration {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("parsing configuration {}", path.display()))
        }
    }
}

fn resolve_store(
    args: &StoreArgs,
    file: &FileConfig,
    blob_url: Option<String>,
) -> Result<StoreConfig> {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("carillon-data"));
    // The data directory holds secrets (access keys, password hashes, TLS key): only its
    // owner may enter it, as PostgreSQL insists for its own.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    }
    let data_dir = data_dir.canonicalize()?;
    let database_url = args
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("carillon.db").display()
            )
        });
    let blob_url = blob_url
        .or_else(|| file.blob_url.clone())
        .unwrap_or_else(|| format!("file://{}/", data_dir.join("blobs").display()));
    Ok(StoreConfig {
        data_dir,
        database_url,
        blob_url,
    })
}

impl StoreArgs {
    /// Resolves the store location for the `accounts` and `keys` subcommands.
    pub fn resolve(&self) -> Result<StoreConfig> {
        let file = read_file_config(self.config.as_deref())?;
        resolve_store(self, &file, None)
    }
}

impl ServeArgs {
    /// Resolves flags over the file over the embedded defaults.
    pub fn resolve(self) -> Result<Config> {
        let file = read_file_config(self.store.config.as_deref())?;
        let store = resolve_store(&self.store, &file, self.blob_url.clone())?;
        let addr = |flag: Option<SocketAddr>, key: Option<SocketAddr>, default: &str| {
            flag.or(key)
                .unwrap_or_else(|| default.parse().expect("valid default address"))
        };
        let tls_cert = self.tls_cert.or(file.tls_cert);
        let tls_key = self.tls_key.or(file.tls_key);
        anyhow::ensure!(
            tls_cert.is_some() == tls_key.is_some(),
            "--tls-cert and --tls-key go together"
        );
        Ok(Config {
            store,
            http_addr: addr(self.http_addr, file.http_addr, "127.0.0.1:8080"),
            smtp_addr: addr(self.smtp_addr, file.smtp_addr, "127.0.0.1:2525"),
            submission_addr: addr(self.submission_addr, file.submission_addr, "127.0.0.1:5870"),
            imap_addr: addr(self.imap_addr, file.imap_addr, "127.0.0.1:1143"),
            imaps_addr: addr(self.imaps_addr, file.imaps_addr, "127.0.0.1:9930"),
            hostname: self
                .hostname
                .or(file.hostname)
                .unwrap_or_else(|| "localhost".to_string()),
            region: self
                .region
                .or(file.region)
                .unwrap_or_else(|| "us-east-1".to_string()),
            test_domain_base: self
                .test_domain_base
                .or(file.test_domain_base)
                .unwrap_or_else(|| "localhost".to_string()),
            tls_cert,
            tls_key,
            smarthost: self.smarthost.or(file.smarthost),
            dns_resolver: self.dns_resolver.or(file.dns_resolver),
            queue_lifetime: Duration::from_secs(
                self.queue_lifetime_secs
                    .or(file.queue_lifetime_secs)
                    .unwrap_or(5 * 24 * 3600),
            ),
            queue_retry: Duration::from_secs(
                self.queue_retry_secs
                    .or(file.queue_retry_secs)
                    .unwrap_or(60),
            ),
            retention_interval: Duration::from_secs(
                self.retention_interval_secs
                    .or(file.retention_interval_secs)
                    .unwrap_or(carillon_mail::retention::DEFAULT_INTERVAL_SECS)
                    .max(1),
            ),
            trusted_ca_file: self.trusted_ca_file.or(file.trusted_ca_file),
            public_url: self
                .public_url
                .or(file.public_url)
                .map(|url| url.trim_end_matches('/').to_string()),
            chime_retention_interval: Duration::from_secs(
                self.chime_retention_interval_secs
                    .or(file.chime_retention_interval_secs)
                    .unwrap_or(24 * 3600)
                    .max(1),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn embedded_defaults_and_a_private_data_dir() {
        let dir = std::env::temp_dir().join(format!("carillon-config-{}", std::process::id()));
        let args = ServeArgs {
            store: StoreArgs {
                data_dir: Some(dir.join("data")),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        let mode = std::fs::metadata(&config.store.data_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(config.store.database_url.starts_with("sqlite://"));
        assert!(config.store.blob_url.starts_with("file://"));
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.test_domain_base, "localhost");
        assert_eq!(config.region, "us-east-1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_keys_apply_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("carillon-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("carillon.toml");
        std::fs::write(
            &file,
            format!(
                "data_dir = {:?}\nregion = \"eu-west-1\"\nhttp_addr = \"127.0.0.1:0\"\n",
                dir.join("data")
            ),
        )
        .unwrap();
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(file.clone()),
                ..StoreArgs::default()
            },
            region: Some("us-west-2".to_string()),
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.region, "us-west-2");
        assert_eq!(config.http_addr.port(), 0);
        assert!(config.store.data_dir.ends_with("data"));
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(file),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        assert!(args.resolve().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
