//! The IMAP server driven by real clients: Python's `imaplib` (tests/imap_client.py) over
//! STARTTLS and implicit TLS, and a raw TLS client for what imaplib cannot show (untagged
//! greeting capabilities, IDLE without a selected folder, shutdown).

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use carillon_imap::{serve, serve_connection, ImapConfig};
use carillon_net::testing::AssumedTls;
use carillon_store::testing::TestStore;
use carillon_store::{NewMessage, Store};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "correct horse battery staple";
const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Quarterly numbers\r\nDate: Tue, 14 Nov 2023 10:00:00 +0000\r\nMessage-ID: <q1@example.com>\r\n\r\nRevenue is up.\r\nCosts are down.\r\n";

struct Server {
    store: Store,
    plain_port: u16,
    tls_port: u16,
    ca_file: PathBuf,
    cert: CertificateDer<'static>,
    tls: Arc<rustls::ServerConfig>,
    db: TestStore,
    stop: Vec<tokio_util::sync::CancellationToken>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn start() -> Server {
    let db = TestStore::sqlite().await;
    let store = db.store.clone();

    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let ca_file = db.dir().join("ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let tls = Arc::new(tls);

    let mut stop = Vec::new();
    let mut tasks = Vec::new();
    let mut ports = Vec::new();
    for implicit_tls in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        let token = tokio_util::sync::CancellationToken::new();
        stop.push(token.clone());
        let config = ImapConfig {
            hostname: "imap.test".into(),
            tls: tls.clone(),
            implicit_tls,
        };
        tasks.push(tokio::spawn(serve(listener, store.clone(), config, token)));
    }
    Server {
        store,
        plain_port: ports[0],
        tls_port: ports[1],
        ca_file,
        cert,
        tls,
        db,
        stop,
        tasks,
    }
}

/// A user `alice@example.com` with one delivered INBOX message (the bytes of [`MESSAGE`]).
async fn alice(server: &Server) -> String {
    let hash = carillon_mail::login::hash_password(PASSWORD).unwrap();
    let user_id = server
        .db
        .insert_test_mail_user("alice@example.com", &hash)
        .await;
    server
        .store
        .blobs()
        .put("messages/fixture-1", Bytes::from_static(MESSAGE))
        .await
        .unwrap();
    server
        .store
        .append_messages(&[NewMessage {
            user_id: user_id.clone(),
            folder: "INBOX".into(),
            blob_key: "messages/fixture-1".into(),
            size_bytes: MESSAGE.len() as i64,
            internal_date: 1_699_956_000_000,
            flags: Vec::new(),
            message_key: None,
        }])
        .await
        .unwrap();
    user_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaplib_session_over_starttls_and_implicit_tls() {
    let server = start().await;
    let user_id = alice(&server).await;
    let message_file = server.db.dir().join("message.eml");
    std::fs::write(&message_file, MESSAGE).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/imap_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(server.plain_port.to_string())
        .arg(server.tls_port.to_string())
        .arg(&server.ca_file)
        .arg("alice@example.com")
        .arg(PASSWORD)
        .arg(&message_file)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "imaplib client failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");

    // What the client did is persistent: the moved-and-expunged message is gone from the
    // mailbox size, the APPENDed ones are counted.
    let size = server.store.mailbox_size(&user_id).await.unwrap().unwrap();
    let inbox = server
        .store
        .folder(&user_id, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let listed = server
        .store
        .list_messages(&user_id, &inbox.folder_id)
        .await
        .unwrap();
    assert_eq!(size, listed.iter().map(|m| m.size_bytes).sum::<i64>());
    assert!(listed.iter().all(|m| m.uid > 1), "UID 1 moved out of INBOX");
    assert!(
        matches!(
            server.store.blobs().get("messages/fixture-1").await,
            Err(carillon_store::StoreError::NotFound(_))
        ),
        "the blob of the expunged message is deleted"
    );
    shutdown(server).await;
}

/// A line-oriented client for raw protocol checks, over TLS unless told otherwise.
struct Raw<S = tokio_rustls::client::TlsStream<TcpStream>> {
    stream: BufReader<S>,
}

impl Raw {
    async fn connect(server: &Server) -> Raw {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server.cert.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(("127.0.0.1", server.tls_port))
            .await
            .unwrap();
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        Raw {
            stream: BufReader::new(tls),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    async fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        line
    }

    async fn send(&mut self, data: &str) {
        self.stream
            .get_mut()
            .write_all(data.as_bytes())
            .await
            .unwrap();
    }

    /// Sends a command and returns every line up to and including its tagged completion.
    async fn command(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}\r\n")).await;
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed during {command}");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_protocol_states_errors_and_shutdown() {
    let server = start().await;
    alice(&server).await;
    let mut raw = Raw::connect(&server).await;
    let greeting = raw.line().await;
    assert!(
        greeting
            .to_ascii_uppercase()
            .starts_with("* OK [CAPABILITY IMAP4REV1"),
        "{greeting}"
    );
    assert!(greeting.contains("AUTH=PLAIN") && !greeting.contains("STARTTLS"));

    let reply = raw.command("a1", "SELECT INBOX").await;
    assert!(reply.last().unwrap().starts_with("a1 BAD"), "{reply:?}");
    let reply = raw.command("a2", "LOGIN alice@example.com wrong").await;
    assert!(reply
        .last()
        .unwrap()
        .starts_with("a2 NO [AUTHENTICATIONFAILED]"));
    let reply = raw
        .command("a3", &format!("LOGIN alice@example.com \"{PASSWORD}\""))
        .await;
    assert!(reply.last().unwrap().starts_with("a3 OK"), "{reply:?}");

    let reply = raw.command("a4", "FETCH 1 FLAGS").await;
    assert!(
        reply.last().unwrap().starts_with("a4 BAD"),
        "no mailbox selected"
    );
    let reply = raw.command("a5", "EXAMINE INBOX").await;
    assert!(reply.iter().any(|l| l == "* 1 EXISTS\r\n"), "{reply:?}");
    assert!(reply.iter().any(|l| l == "* 1 RECENT\r\n"), "{reply:?}");
    assert!(reply.last().unwrap().starts_with("a5 OK [READ-ONLY]"));
    let reply = raw.command("a6", "STORE 1 +FLAGS (\\Seen)").await;
    assert!(
        reply.last().unwrap().starts_with("a6 NO"),
        "read-only: {reply:?}"
    );
    let reply = raw.command("a7", "FETCH 2 FLAGS").await;
    assert!(
        reply.last().unwrap().starts_with("a7 BAD"),
        "sequence number beyond EXISTS"
    );
    let reply = raw.command("a8", "UID FETCH 1:* (UID FLAGS)").await;
    assert_eq!(reply[0], "* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n");

    // SELECT claims \Recent: a second SELECT no longer sees it.
    let reply = raw.command("a9", "SELECT INBOX").await;
    assert!(reply.iter().any(|l| l == "* 1 RECENT\r\n"), "{reply:?}");
    let reply = raw.command("a10", "SELECT INBOX").await;
    assert!(reply.iter().any(|l| l == "* 0 RECENT\r\n"), "{reply:?}");
    assert!(reply.last().unwrap().starts_with("a10 OK [READ-WRITE]"));

    let reply = raw.command("a11", "COPY 1 Nowhere").await;
    assert!(reply.last().unwrap().starts_with("a11 NO [TRYCREATE]"));
    let reply = raw.command("a12", "COPY 1 Drafts").await;
    assert!(
        reply.last().unwrap().starts_with("a12 OK [COPYUID "),
        "{reply:?}"
    );
    let reply = raw.command("a13", "NAMESPACE").await;
    assert_eq!(reply[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    let reply = raw.command("a14", "SEARCH CHARSET KOI8-R ALL").await;
    assert!(reply.last().unwrap().starts_with("a14 NO [BADCHARSET"));
    let reply = raw.command("a15", "LIST \"\" \"\"").await;
    assert_eq!(reply[0], "* LIST (\\Noselect) \"/\" \"\"\r\n");

    // Another session (SASL-IR login) changes flags and expunges: this one hears of both on
    // NOOP, the FETCH first, then the EXPUNGE, and its sequence numbers follow.
    let mut other = Raw::connect(&server).await;
    other.line().await;
    let initial = base64::engine::general_purpose::STANDARD
        .encode(format!("\0alice@example.com\0{PASSWORD}"));
    let reply = other
        .command("b1", &format!("AUTHENTICATE PLAIN {initial}"))
        .await;
    assert!(reply.last().unwrap().starts_with("b1 OK"), "{reply:?}");
    other.command("b2", "SELECT INBOX").await;
    let reply = other
        .command("b3", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        .await;
    assert_eq!(reply.len(), 1, "{reply:?}");
    let reply = raw.command("a16", "NOOP").await;
    assert_eq!(
        reply[0], "* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n",
        "{reply:?}"
    );
    let reply = other.command("b4", "EXPUNGE").await;
    assert_eq!(reply[0], "* 1 EXPUNGE\r\n");
    let reply = raw.command("a17", "NOOP").await;
    assert_eq!(reply[0], "* 1 EXPUNGE\r\n", "{reply:?}");
    let reply = raw.command("a18", "FETCH 1 FLAGS").await;
    assert!(
        reply.last().unwrap().starts_with("a18 BAD"),
        "mailbox is empty now"
    );

    // APPEND beyond the mailbox quota (UpdateMailboxQuota's 1 MB minimum) is refused.
    let login = server
        .store
        .find_mail_login("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    server
        .store
        .set_mailbox_quota(&login.organization_id, &login.user_id, 1)
        .await
        .unwrap();
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(1024 * 1024));
    raw.send(&format!("a19 APPEND INBOX {{{}+}}\r\n{big}\r\n", big.len()))
        .await;
    let line = raw.line().await;
    assert!(line.starts_with("a19 NO [OVERQUOTA]"), "{line}");

    // Shutdown: every session is told BYE.
    for stop in server.stop {
        stop.cancel();
    }
    let bye = raw.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    let bye = other.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    for task in server.tasks {
        task.await.unwrap().unwrap();
    }
}

/// LOGIN, SELECT, FETCH and IDLE on a session run in memory (`tokio::io::duplex`, no socket;
/// the connection counts as TLS from the start): IDLE announces a message delivered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_session_logs_in_selects_fetches_and_idles() {
    let server = start().await;
    let user_id = alice(&server).await;
    let (client, stream) = tokio::io::duplex(64 * 1024);
    let config = ImapConfig {
        hostname: "imap.test".into(),
        tls: server.tls.clone(),
        implicit_tls: true,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let session = tokio::spawn(serve_connection(
        stream,
        "192.0.2.143:40143".parse().unwrap(),
        server.store.clone(),
        Arc::new(config),
        Arc::new(AssumedTls),
        stop,
    ));
    let mut raw = Raw {
        stream: BufReader::new(client),
    };
    let greeting = raw.line().await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4REV1"),
        "{greeting}"
    );
    assert!(greeting.contains("AUTH=PLAIN"), "{greeting}");

    let reply = raw
        .command("a1", &format!("LOGIN alice@example.com \"{PASSWORD}\""))
        .await;
    assert!(reply.last().unwrap().starts_with("a1 OK"), "{reply:?}");
    let reply = raw.command("a2", "SELECT INBOX").await;
    assert!(reply.iter().any(|l| l == "* 1 EXISTS\r\n"), "{reply:?}");
    assert!(reply.last().unwrap().starts_with("a2 OK [READ-WRITE]"));
    let reply = raw.command("a3", "FETCH 1 (FLAGS BODY[])").await;
    let fetched = reply.concat();
    assert!(fetched.starts_with("* 1 FETCH ("), "{fetched}");
    assert!(
        fetched.contains("Revenue is up.\r\nCosts are down.\r\n"),
        "{fetched}"
    );
    assert!(fetched.contains("\\Seen"), "BODY[] sets \\Seen: {fetched}");
    assert!(reply.last().unwrap().starts_with("a3 OK"), "{reply:?}");

    raw.send("a4 IDLE\r\n").await;
    assert!(raw.line().await.starts_with("+ "));
    server
        .store
        .blobs()
        .put("messages/fixture-2", Bytes::from_static(MESSAGE))
        .await
        .unwrap();
    server
        .store
        .append_messages(&[NewMessage {
            user_id,
            folder: "INBOX".into(),
            blob_key: "messages/fixture-2".into(),
            size_bytes: MESSAGE.len() as i64,
            internal_date: 1_699_956_060_000,
            flags: Vec::new(),
            message_key: None,
        }])
        .await
        .unwrap();
    assert_eq!(raw.line().await, "* 2 EXISTS\r\n");
    raw.send("DONE\r\n").await;
    let done = loop {
        let line = raw.line().await;
        if line.starts_with("a4 ") {
            break line;
        }
    };
    assert!(done.starts_with("a4 OK"), "{done}");
    let reply = raw.command("a5", "LOGOUT").await;
    assert!(reply[0].starts_with("* BYE"), "{reply:?}");
    session.await.unwrap().unwrap();
    shutdown(server).await;
}

async fn shutdown(server: Server) {
    for stop in server.stop {
        stop.cancel();
    }
    for task in server.tasks {
        task.await.unwrap().unwrap();
    }
}
