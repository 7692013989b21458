//! Shared fixtures of the directory tests: a store on SQLite (and on PostgreSQL in a fresh
//! schema when `CARILLON_TEST_DATABASE_URL` is set), accounts with request contexts, a
//! [`WorkMail`] wired to a local DNS stub, and the stub itself.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use carillon_awsapi::generated::workmail::*;
use carillon_core::{ApiError, RequestContext};
use carillon_mail::directory::WorkMail;
use carillon_store::testing::{create_account, test_stores, unique_name, TestStore};
use carillon_store::Store;
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{CNAME, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// Carillon's mail host name in the tests (MX target, DKIM CNAME base).
pub const MAIL_HOST: &str = "mail.carillon.test";

/// A password that satisfies the directory policy.
pub const PASSWORD: &str = "Str0ng-Passw0rd";

/// Record data by lower-case owner name (no trailing dot) and type.
type Records = HashMap<(String, RecordType), Vec<RData>>;

/// Records served by [`DnsStub`].
#[derive(Clone, Default)]
pub struct Zone(Arc<Mutex<Records>>);

impl Zone {
    /// Publishes a TXT record, split into character-strings of at most 255 bytes as DNS
    /// requires (long DKIM keys).
    pub fn txt(&self, name: &str, value: &str) {
        let parts = value
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        self.add(name, RecordType::TXT, RData::TXT(TXT::new(parts)));
    }

    /// Publishes a CNAME record.
    pub fn cname(&self, name: &str, target: &str) {
        let target = Name::from_ascii(target).unwrap();
        self.add(name, RecordType::CNAME, RData::CNAME(CNAME(target)));
    }

    /// Removes every record of `name`.
    pub fn remove(&self, name: &str) {
        let key = key(name);
        self.0.lock().unwrap().retain(|(n, _), _| *n != key);
    }

    fn add(&self, name: &str, record_type: RecordType, data: RData) {
        self.0
            .lock()
            .unwrap()
            .entry((key(name), record_type))
            .or_default()
            .push(data);
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A tiny authoritative DNS server on 127.0.0.1 UDP answering from a [`Zone`]; unknown names
/// get NXDOMAIN.
pub struct DnsStub {
    /// Where the stub listens (UDP).
    pub addr: SocketAddr,
    /// The records it serves; change them while it runs.
    pub zone: Zone,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsStub {
    /// Binds 127.0.0.1:0 and serves an empty zone until dropped.
    pub async fn start() -> DnsStub {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Zone::default();
        let served = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let reply = answer(&served, &query);
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        DnsStub { addr, zone, task }
    }
}

fn answer(zone: &Zone, query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let records = zone.0.lock().unwrap();
    let mut found_name = false;
    for q in query.queries() {
        reply.add_query(q.clone());
        let name = key(&q.name().to_ascii());
        found_name |= records.keys().any(|(n, _)| *n == name);
        for data in records.get(&(name, q.query_type())).into_iter().flatten() {
            reply.add_answer(Record::from_rdata(q.name().clone(), 60, data.clone()));
        }
    }
    if !found_name {
        reply.set_response_code(ResponseCode::NXDomain);
    }
    reply
}

/// A store plus what a WorkMail service over it needs in the tests.
pub struct Env {
    /// The store under test.
    pub store: Store,
    /// The service under test, resolving through `dns`.
    pub wm: WorkMail,
    /// The DNS stub the service verifies domains against.
    pub dns: DnsStub,
    /// `sqlite` or `postgres`, for assertion messages.
    pub backend: &'static str,
    /// Keeps the store's directory (and PostgreSQL schema) until the test ends.
    _db: TestStore,
}

impl Env {
    /// A new account (tenant) with its request context.
    pub async fn account(&self) -> RequestContext {
        let account_id = create_account(&self.store).await;
        RequestContext {
            principal_arn: format!("arn:aws:iam::{account_id}:user/admin"),
            account_id,
            access_key_id: "AKIATEST".to_string(),
            region: "us-east-1".to_string(),
            request_id: carillon_core::ids::new_uuid(),
            source_ip: "127.0.0.1".to_string(),
        }
    }

    /// Creates an organization with a unique alias; returns its ID and alias.
    pub async fn organization(&self, ctx: &RequestContext) -> (String, String) {
        let alias = unique_name("org");
        let id = self
            .wm
            .create_organization(
                ctx,
                CreateOrganizationRequest {
                    alias: alias.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .organization_id
            .unwrap();
        (id, alias)
    }

    /// Registers `domain` in the organization and publishes its ownership TXT and DKIM
    /// CNAMEs in the stub zone, so it verifies.
    pub async fn verified_domain(&self, ctx: &RequestContext, org: &str, domain: &str) {
        self.wm
            .register_mail_domain(
                ctx,
                RegisterMailDomainRequest {
                    organization_id: org.to_string(),
                    domain_name: domain.to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        self.publish(ctx, org, domain).await;
    }

    /// Publishes the TXT and CNAME records GetMailDomain asks for.
    pub async fn publish(&self, ctx: &RequestContext, org: &str, domain: &str) {
        let got = self
            .wm
            .get_mail_domain(
                ctx,
                GetMailDomainRequest {
                    organization_id: org.to_string(),
                    domain_name: domain.to_string(),
                },
            )
            .await
            .unwrap();
        for record in got.records.unwrap() {
            let (kind, host, value) = (
                record.r#type.unwrap(),
                record.hostname.unwrap(),
                record.value.unwrap(),
            );
            match kind.as_str() {
                "TXT" => self.dns.zone.txt(&host, &value),
                "CNAME" => self.dns.zone.cname(&host, &value),
                _ => {}
            }
        }
    }

    /// Creates a user with [`PASSWORD`]; returns its ID.
    pub async fn user(&self, ctx: &RequestContext, org: &str, name: &str) -> String {
        self.wm
            .create_user(
                ctx,
                CreateUserRequest {
                    organization_id: org.to_string(),
                    name: name.to_string(),
                    display_name: name.to_uppercase(),
                    password: Some(PASSWORD.to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .user_id
            .unwrap()
    }

    /// Registers (enables) an entity with `email`.
    pub async fn register(
        &self,
        ctx: &RequestContext,
        org: &str,
        entity: &str,
        email: &str,
    ) -> Result<(), ApiError> {
        self.wm
            .register_to_work_mail(
                ctx,
                RegisterToWorkMailRequest {
                    organization_id: org.to_string(),
                    entity_id: entity.to_string(),
                    email: email.to_string(),
                },
            )
            .await
            .map(|_| ())
    }
}

/// The code of an error result, for assertions.
pub fn code<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
    result.expect_err("the call should fail").code.to_string()
}

/// One environment per configured backend: SQLite always, PostgreSQL (fresh schema) when
/// `CARILLON_TEST_DATABASE_URL` is set.
pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for db in test_stores().await {
        let dns = DnsStub::start().await;
        let wm = WorkMail::new(
            db.store.clone(),
            "us-east-1".to_string(),
            MAIL_HOST.to_string(),
            "localhost".to_string(),
            Some(dns.addr),
        )
        .await
        .unwrap();
        out.push(Env {
            store: db.store.clone(),
            wm,
            dns,
            backend: db.label,
            _db: db,
        });
    }
    out
}
