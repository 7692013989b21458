//! `carillon serve`: opens the store, bootstraps the administrator, binds every listener,
//! runs the background jobs, and shuts down cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use carillon_awsapi::Services;
use carillon_iam::Iam;
use carillon_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::config::{Config, StoreConfig};

/// Name of the bootstrap administrator's credentials file inside the data directory.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials";

/// Opens the store (applying migrations) with the keyring of encryption at rest: the local
/// key provider over `<data-dir>/keys/` (workmail.md §5.3), default keys made in `region`.
pub async fn open_store(config: &StoreConfig, region: &str) -> Result<Store> {
    let keys = carillon_kms::LocalKeyProvider::open(config.data_dir.join(KEYS_DIR))
        .with_context(|| "opening the key directory")?;
    let keyring = Arc::new(carillon_kms::Keyring::new(Arc::new(keys), region));
    Ok(Store::open(&config.database_url, &config.blob_url)
        .await
        .with_context(|| "opening the store")?
        .with_keyring(keyring))
}

/// Opens the IAM layer for the command-line subcommands (default region).
pub async fn open_iam(config: &StoreConfig) -> Result<Iam> {
    Ok(Iam::new(
        open_store(config, DEFAULT_REGION).await?,
        DEFAULT_REGION,
    ))
}

/// The region of the command-line subcommands.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The key provider's directory inside the data directory (keys of encryption at rest).
pub const KEYS_DIR: &str = "keys";

async fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {name} listener on {addr}"))?;
    // One line per listener on stdout, so `:0` ports can be discovered by scripts.
    println!("listening {name} {}", listener.local_addr()?);
    Ok(listener)
}

/// Installs the process-wide Prometheus recorder for the WorkMail metrics (workmail.md §4.3)
/// once, and returns the handle `GET /metrics` renders. Later calls (tests serving twice in
/// one process) share the first recorder.
fn metrics_handle() -> Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    carillon_mail::metrics::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// `GET /metrics`: the Prometheus text exposition format, unauthenticated like `/health`.
fn metrics_response(handle: &PrometheusHandle) -> impl axum::response::IntoResponse {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// Runs every service until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<()> {
    let store = open_store(&config.store, &config.region).await?;
    let iam = Iam::new(store.clone(), config.region.clone());
    let credentials = config.store.data_dir.join(ADMIN_CREDENTIALS_FILE);
    if let Some(key) = iam.ensure_bootstrap(&credentials).await? {
        tracing::info!(
            access_key_id = %key.access_key_id,
            file = %credentials.display(),
            "bootstrap administrator created"
        );
    }
    let tls = crate::tls::server_config(
        &config.store.data_dir,
        &config.hostname,
        config.tls_cert.as_deref(),
        config.tls_key.as_deref(),
    )?;

    let workmail = carillon_mail::directory::WorkMail::new(
        store.clone(),
        config.region.clone(),
        config.hostname.clone(),
        config.test_domain_base.clone(),
        config.dns_resolver,
    )
    .await?;
    let mut carillon_operations = carillon_adminapi::Registry::new();
    carillon_mail::directory::register_carillon_operations(&mut carillon_operations, &workmail);
    let messageflow =
        carillon_mail::messageflow::MessageFlow::new(store.clone(), config.region.clone());
    let http = bind("http", config.http_addr).await?;
    let node_id = node_id(&config.store.data_dir)?;
    let trusted_ca = match &config.trusted_ca_file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let chime_config = carillon_chime::ChimeConfig {
        region: config.region.clone(),
        public_url: config
            .public_url
            .clone()
            .unwrap_or(format!("http://{}", http.local_addr()?)),
        hostname: config.hostname.clone(),
        dns_resolver: config.dns_resolver,
        mailer: Some(Arc::new(crate::chime_mail::ChimeMailer::new(
            store.clone(),
            config.hostname.clone(),
        ))),
        trusted_ca_pem: trusted_ca.clone(),
        retention_interval: config.chime_retention_interval,
        node_id: node_id.clone(),
    };
    let chime = carillon_chime::Chime::with_config(store.clone(), chime_config)
        .await
        .context("starting the Chime service")?;
    carillon_chime::register_carillon_operations(&mut carillon_operations, &chime);
    let carillon =
        carillon_adminapi::Engine::new(iam.clone(), config.region.clone(), carillon_operations);
    let services = Services {
        workmail: Arc::new(workmail),
        messageflow: Arc::new(messageflow.clone()),
        chime: Arc::new(chime.clone()),
        ..Services::not_implemented()
    };
    let admin_state = Arc::new(AdminState {
        s3: carillon_s3::S3Endpoint {
            iam: iam.clone(),
            store: store.clone(),
            region: config.region.clone(),
        },
        iam,
        services,
        region: config.region.clone(),
        carillon,
        messageflow,
    });
    carillon_mail::events::install(&config.store.data_dir, &config.region);
    let audit_client = carillon_mail::https::client(trusted_ca.as_deref())
        .context("the audit-log HTTP delivery client")?;
    carillon_mail::audit::install(&config.store.data_dir, &config.region, audit_client);
    let metrics = metrics_handle()?;
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            "/metrics",
            axum::routing::get(move || std::future::ready(metrics_response(&metrics))),
        )
        .fallback(admin::handle)
        .with_state(admin_state)
        .merge(carillon_chime_client::router(chime.clone()));

    let smtp = bind("smtp", config.smtp_addr).await?;
    let submission = bind("submission", config.submission_addr).await?;
    let imap = bind("imap", config.imap_addr).await?;
    let imaps = bind("imaps", config.imaps_addr).await?;

    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let token = shutdown.clone();
        tasks.spawn(async move {
            axum::serve(
                http,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .context("http listener")
        });
    }
    let smtp_config = carillon_smtp::SmtpConfig {
        hostname: config.hostname.clone(),
        tls: tls.clone(),
        max_message_size: carillon_smtp::DEFAULT_MAX_MESSAGE_SIZE,
        max_recipients: carillon_smtp::DEFAULT_MAX_RECIPIENTS,
        sender_authentication: Some(Arc::new(
            carillon_mail::sender_authentication::SenderAuthenticator::new(
                &config.hostname,
                config.dns_resolver,
            )?,
        )),
    };
    {
        let (store, cfg, token) = (store.clone(), smtp_config.clone(), shutdown.clone());
        tasks.spawn(async move {
            carillon_smtp::serve_inbound(smtp, store, cfg, token)
                .await
                .context("smtp listener")
        });
    }
    {
        let (store, cfg, token) = (store.clone(), smtp_config, shutdown.clone());
        tasks.spawn(async move {
            carillon_smtp::serve_submission(submission, store, cfg, token)
                .await
                .context("submission listener")
        });
    }
    {
        let mut jobs: Vec<Box<dyn carillon_jobs::Job>> = vec![
            Box::new(carillon_mail::retention::RetentionJob::new(
                store.clone(),
                node_id.clone(),
                config.retention_interval,
            )),
            Box::new(carillon_smtp::OutboundQueue::new(
                store.clone(),
                carillon_smtp::OutboundConfig {
                    hostname: config.hostname.clone(),
                    smarthost: config.smarthost.clone(),
                    resolver_nameserver: config.dns_resolver,
                    queue_lifetime: config.queue_lifetime,
                    retry_base: config.queue_retry,
                    node_id: node_id.clone(),
                    extra_ca_pem: trusted_ca.clone(),
                },
            )),
            Box::new(carillon_mail::export::ExportRunner::new(
                store.clone(),
                node_id.clone(),
            )),
            Box::new(carillon_mail::flow::transit::HookWorker::new(
                store.clone(),
                node_id,
                carillon_mail::flow::hooks::HookClient::new(trusted_ca.as_deref())
                    .context("hook HTTPS client")?,
            )),
        ];
        jobs.extend(carillon_chime::jobs::all(&chime));
        let token = shutdown.clone();
        tasks.spawn(async move {
            carillon_jobs::run_all(jobs, token)
                .await
                .context("background jobs")
        });
    }
    for (listener, implicit_tls, name) in [(imap, false, "imap"), (imaps, true, "imaps")] {
        let imap_config = carillon_imap::ImapConfig {
            hostname: config.hostname.clone(),
            tls: tls.clone(),
            implicit_tls,
        };
        let (store, token) = (store.clone(), shutdown.clone());
        tasks.spawn(async move {
            carillon_imap::serve(listener, store, imap_config, token)
                .await
                .with_context(|| format!("{name} listener"))
        });
    }

    let mut failure = None;
    tokio::select! {
        _ = termination() => tracing::info!("shutting down"),
        Some(result) = tasks.join_next() => {
            failure = Some(match result {
                Ok(Ok(())) => anyhow::anyhow!("a listener stopped unexpectedly"),
                Ok(Err(e)) => e,
                Err(e) => e.into(),
            });
        }
    }
    shutdown.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
    store.close().await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// This node's stable identity (`<data-dir>/node-id`, created on first start): a restarted
/// node recognises the queue leases it held before and releases them at once.
fn node_id(data_dir: &std::path::Path) -> Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = carillon_core::ids::new_uuid();
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
    }
}

async fn termination() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
