//! Test harness: a temp SQLite store with a directory fixture, the two SMTP listeners on
//! 127.0.0.1:0 with a self-signed certificate, a raw SMTP client and a fake remote peer.
#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use carillon_net::testing::AssumedTls;
use carillon_smtp::{Role, SmtpConfig};
use carillon_store::testing::TestStore;
use carillon_store::Store;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
    ReadHalf, WriteHalf,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

pub const DOMAIN: &str = "example.test";
pub const PASSWORD: &str = "Corr3ct-Horse!";
pub const HOSTNAME: &str = "mx.carillon.test";

/// The directory fixture: organization `m-test` with domain `example.test`, users alice
/// (alias `sales`), bob and carol, group `team` = {bob, carol}, all enabled with mailboxes.
pub struct Harness {
    pub store: Store,
    /// The SQLite store behind `store`, for fixture rows; keeps its directory alive.
    pub db: TestStore,
    pub org: String,
    pub inbound: SocketAddr,
    pub submission: SocketAddr,
    /// The listeners' configuration, for sessions run in memory.
    pub config: SmtpConfig,
    shutdown: tokio_util::sync::CancellationToken,
    pub servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn user_id(name: &str) -> String {
    format!("u-{name}")
}

pub fn address(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// A directory entity `id` in state `ENABLED` with primary address `email`.
pub async fn add_entity(
    db: &TestStore,
    org: &str,
    id: &str,
    kind: &str,
    email: &str,
    hash: Option<&str>,
) {
    db.insert_entity(org, id, kind, "ENABLED", Some(email), hash)
        .await;
    db.insert_address(org, id, email, true).await;
}

pub fn tls_config() -> Arc<rustls::ServerConfig> {
    let certified = rcgen::generate_simple_self_signed(vec![HOSTNAME.to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    Arc::new(config)
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(carillon_smtp::DEFAULT_MAX_MESSAGE_SIZE).await
    }

    /// Starts with `max_message_size` bytes as the SMTP size limit.
    pub async fn start_with(max_message_size: usize) -> Harness {
        Harness::start_configured(max_message_size, None).await
    }

    /// Starts with MX-path sender authentication resolving through `nameserver`.
    pub async fn start_authenticating(nameserver: SocketAddr) -> Harness {
        let authenticator = carillon_mail::sender_authentication::SenderAuthenticator::new(
            HOSTNAME,
            Some(nameserver),
        )
        .unwrap();
        Harness::start_configured(
            carillon_smtp::DEFAULT_MAX_MESSAGE_SIZE,
            Some(Arc::new(authenticator)),
        )
        .await
    }

    async fn start_configured(
        max_message_size: usize,
        sender_authentication: Option<
            Arc<carillon_mail::sender_authentication::SenderAuthenticator>,
        >,
    ) -> Harness {
        let db = TestStore::sqlite().await;
        let store = db.store.clone();
        let org = "m-test".to_string();
        db.insert_account("111122223333").await;
        db.insert_organization("111122223333", &org, "test", "Active")
            .await;
        db.insert_mail_domain(&org, DOMAIN).await;
        let hash = carillon_mail::login::hash_password(PASSWORD).unwrap();
        for name in ["alice", "bob", "carol"] {
            add_entity(
                &db,
                &org,
                &user_id(name),
                "USER",
                &address(name),
                Some(&hash),
            )
            .await;
            store.create_mailbox(&org, &user_id(name)).await.unwrap();
        }
        db.insert_address(&org, &user_id("alice"), &address("sales"), false)
            .await;
        add_entity(&db, &org, "g-team", "GROUP", &address("team"), None).await;
        for member in ["bob", "carol"] {
            db.insert_group_member(&org, "g-team", &user_id(member))
                .await;
        }

        let config = SmtpConfig {
            hostname: HOSTNAME.to_string(),
            tls: tls_config(),
            max_message_size,
            max_recipients: carillon_smtp::DEFAULT_MAX_RECIPIENTS,
            sender_authentication,
        };
        let inbound_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let submission_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbound = inbound_listener.local_addr().unwrap();
        let submission = submission_listener.local_addr().unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let servers = vec![
            tokio::spawn(carillon_smtp::serve_inbound(
                inbound_listener,
                store.clone(),
                config.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(carillon_smtp::serve_submission(
                submission_listener,
                store.clone(),
                config.clone(),
                shutdown.clone(),
            )),
        ];
        Harness {
            store,
            db,
            org,
            inbound,
            submission,
            config,
            shutdown,
            servers,
        }
    }

    /// Signals shutdown and waits for both listeners to return.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for server in self.servers.drain(..) {
            server.await.unwrap().unwrap();
        }
    }

    /// A session in `role` run on an in-memory stream (no socket; STARTTLS encrypts nothing),
    /// and a client on the other end that has read the 220 greeting. The handle yields the
    /// session's end.
    pub async fn in_memory(
        &self,
        role: Role,
    ) -> (
        Client<ReadHalf<DuplexStream>, WriteHalf<DuplexStream>>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let peer: SocketAddr = "192.0.2.25:40025".parse().unwrap();
        let session = tokio::spawn(carillon_smtp::serve_connection(
            server,
            peer,
            self.store.clone(),
            self.config.clone(),
            role,
            Arc::new(AssumedTls),
        ));
        let (read, writer) = tokio::io::split(client);
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        (client, session)
    }

    /// The raw messages in a user's folder, by UID, with their flags.
    pub async fn messages(&self, user: &str, folder: &str) -> Vec<(Vec<u8>, Vec<String>)> {
        let id = user_id(user);
        let folder = self.store.folder(&id, folder).await.unwrap().unwrap();
        let mut out = Vec::new();
        for m in self
            .store
            .list_messages(&id, &folder.folder_id)
            .await
            .unwrap()
        {
            let content = carillon_mail::crypto::read_mailbox_copy(
                &self.store,
                &id,
                &m.blob_key,
                m.message_key.as_deref(),
            )
            .await
            .unwrap();
            out.push((content.to_vec(), m.flags));
        }
        out
    }
}

/// A line-oriented SMTP client for protocol-level tests, over TCP unless told otherwise.
pub struct Client<R = OwnedReadHalf, W = OwnedWriteHalf> {
    reader: BufReader<R>,
    writer: W,
}

impl Client {
    /// Connects and checks the 220 greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    pub async fn send(&mut self, data: &[u8]) {
        self.writer.write_all(data).await.unwrap();
    }

    /// Reads one (possibly multi-line) reply; returns its lines joined with `\n`.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).await.unwrap();
            assert!(n > 0, "connection closed; got so far {lines:?}");
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends one command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Whether the server closed the connection (reads to EOF).
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).await.is_ok()
    }
}

/// What the fake remote peer received: (MAIL FROM, RCPT TOs, data).
pub type Received = Arc<Mutex<Vec<(String, Vec<String>, Vec<u8>)>>>;

/// A fake remote SMTP server: accepts every recipient except local part `nobody`
/// (`550 5.1.1`), keeps what it receives.
pub async fn fake_peer() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                write
                    .write_all(b"220 peer.remote.test ESMTP\r\n")
                    .await
                    .unwrap();
                let (mut from, mut rcpts) = (String::new(), Vec::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-peer.remote.test\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        from = between(&line, '<', '>');
                        b"250 2.1.0 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        let rcpt = between(&line, '<', '>');
                        if rcpt.starts_with("nobody@") {
                            b"550 5.1.1 no such user here\r\n"
                        } else {
                            rcpts.push(rcpt);
                            b"250 2.1.5 ok\r\n"
                        }
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = Vec::new();
                        loop {
                            let mut l = Vec::new();
                            reader.read_until(b'\n', &mut l).await.unwrap();
                            if l == b".\r\n" {
                                break;
                            }
                            if l.starts_with(b".") {
                                l.remove(0);
                            }
                            data.extend_from_slice(&l);
                        }
                        store
                            .lock()
                            .unwrap()
                            .push((from.clone(), rcpts.clone(), data));
                        b"250 2.0.0 accepted\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                        return;
                    } else {
                        b"250 2.0.0 ok\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, received)
}

fn between(line: &str, open: char, close: char) -> String {
    let start = line.find(open).map_or(0, |i| i + 1);
    let end = line[start..].find(close).map_or(line.len(), |i| start + i);
    line[start..end].to_string()
}

/// Polls `condition` every 50 ms until it holds; panics after 30 s (a hang, not a timing
/// assertion: every wait here normally ends in milliseconds).
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if condition().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}
