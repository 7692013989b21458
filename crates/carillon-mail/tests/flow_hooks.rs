//! Flow-rule hooks without SMTP (workmail.md §2.10, §4.5): messages deferred for a
//! synchronous hook, the worker posting signed events to a local HTTPS hook, retries with the
//! same invocation ID, the answer's actions or the fallback applied, and PutRawMessageContent
//! replacing what is delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use carillon_awsapi::generated::workmailmessageflow::{
    GetRawMessageContentRequest, PutRawMessageContentRequest, RawMessageContent, S3Reference,
    WorkMailMessageFlowApi,
};
use carillon_core::RequestContext;
use carillon_mail::delivery::Envelope;
use carillon_mail::flow::hooks::{self, HookClient};
use carillon_mail::flow::rules::{FlowAction, FlowDirection, HookTarget};
use carillon_mail::flow::transit::{self, HookWorker};
use carillon_mail::messageflow::{self, MessageFlow};
use carillon_store::testing::TestStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCOUNT: &str = "111122223333";
const ORG: &str = "m-hooktest";
const DOMAIN: &str = "hooks.test";

/// One request the hook received: its headers (lower-case names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTPS hook answering the n-th request (0-based) with `answer(n)`: (status, body).
struct Hook {
    url: String,
    ca_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Hook {
    async fn start(answer: fn(usize) -> (u16, &'static str)) -> Hook {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let request = read_request(&mut tls).await;
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(request);
                    log.len() - 1
                };
                let (status, body) = answer(n);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        Hook {
            url: format!("https://localhost:{port}/hook"),
            ca_pem: certified.cert.pem(),
            received,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Received {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "request ended early");
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "body ended early");
        data.extend_from_slice(&buf[..n]);
    }
    Received {
        headers,
        body: data[header_end..header_end + length].to_vec(),
    }
}

/// Users alice and bob with mailboxes in organization [`ORG`] of account [`ACCOUNT`].
async fn fixture() -> TestStore {
    let f = TestStore::sqlite().await;
    f.insert_account(ACCOUNT).await;
    f.insert_organization(ACCOUNT, ORG, "hooks", "Active").await;
    f.insert_mail_domain(ORG, DOMAIN).await;
    for name in ["alice", "bob"] {
        let address = format!("{name}@{DOMAIN}");
        f.insert_entity(ORG, name, "USER", "ENABLED", Some(&address), None)
            .await;
        f.insert_address(ORG, name, &address, false).await;
        f.store.create_mailbox(ORG, name).await.unwrap();
    }
    f
}

fn hook_target(url: &str, timeout_minutes: u32) -> HookTarget {
    HookTarget {
        rule_name: "hook rule".to_string(),
        endpoint: url.to_string(),
        synchronous: true,
        fallback: FlowAction::MoveToJunk,
        timeout_minutes,
    }
}

const MESSAGE: &[u8] = b"From: sender@remote.test\r\nTo: alice@hooks.test\r\nSubject: Hooked\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n";

async fn defer(f: &TestStore, hook: &HookTarget) -> String {
    let envelope = Envelope {
        mail_from: "sender@remote.test".to_string(),
        recipients: vec![format!("alice@{DOMAIN}"), format!("bob@{DOMAIN}")],
    };
    transit::hold(
        &f.store,
        ORG,
        FlowDirection::Inbound,
        &envelope,
        Bytes::from_static(MESSAGE),
        hook,
        None,
    )
    .await
    .unwrap()
}

/// Runs the worker until message `id` is done (at most `limit`).
async fn work_until_done(f: &TestStore, hook: &Hook, id: &str, limit: Duration) {
    let client = HookClient::new(Some(hook.ca_pem.as_bytes())).unwrap();
    let worker = HookWorker::new(f.store.clone(), "node-1".to_string(), client);
    let stop = tokio::sync::Notify::new();
    let run = worker.run(stop.notified());
    let wait = async {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let row = f
                .store
                .transit_message(ACCOUNT, id, 0)
                .await
                .unwrap()
                .unwrap();
            if row.state == carillon_store::TRANSIT_DONE {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still {}",
                row.state
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        _ = run => panic!("the worker stopped"),
        _ = wait => {}
    }
}

async fn folder_bodies(f: &TestStore, user: &str, folder: &str) -> Vec<Vec<u8>> {
    let folder = f.store.folder(user, folder).await.unwrap().unwrap();
    let mut bodies = Vec::new();
    for m in f
        .store
        .list_messages(user, &folder.folder_id)
        .await
        .unwrap()
    {
        let body = carillon_mail::crypto::read_mailbox_copy(
            &f.store,
            user,
            &m.blob_key,
            m.message_key.as_deref(),
        )
        .await
        .unwrap();
        bodies.push(body.to_vec());
    }
    bodies
}

fn ctx(account: &str) -> RequestContext {
    RequestContext {
        account_id: account.to_string(),
        principal_arn: format!("arn:aws:iam::{account}:user/admin"),
        access_key_id: "AKIATEST".to_string(),
        region: "us-east-1".to_string(),
        request_id: "req".to_string(),
        source_ip: "127.0.0.1".to_string(),
    }
}

#[tokio::test]
async fn a_failing_hook_is_retried_with_the_same_invocation_and_its_answer_applies() {
    let f = fixture().await;
    let hook = Hook::start(|n| match n {
        0 => (500, "{}"),
        _ => (
            200,
            r#"{"actions": [{"action": {"type": "DROP"}, "recipients": ["bob@hooks.test"]},
                            {"action": {"type": "MOVE_TO_JUNK"}, "allRecipients": true}]}"#,
        ),
    })
    .await;
    let id = defer(&f, &hook_target(&hook.url, 1)).await;
    work_until_done(&f, &hook, &id, Duration::from_secs(30)).await;

    let received = hook.received();
    assert_eq!(received.len(), 2, "one failure, one retry");
    let secret = transit::hook_secret(&f.store, ACCOUNT, ORG).await.unwrap();
    for request in &received {
        let timestamp: i64 = request.header("x-carillon-timestamp").parse().unwrap();
        assert_eq!(
            request.header("x-carillon-signature"),
            hooks::sign(&secret, timestamp, &request.body)
        );
        assert_eq!(request.event()["messageId"], id.as_str());
    }
    assert_eq!(
        received[0].event()["invocationId"],
        received[1].event()["invocationId"],
        "the invocation ID is stable across retries"
    );
    assert_eq!(
        folder_bodies(&f, "alice", "Junk E-mail").await,
        vec![MESSAGE.to_vec()]
    );
    assert!(folder_bodies(&f, "alice", "INBOX").await.is_empty());
    assert!(
        folder_bodies(&f, "bob", "INBOX").await.is_empty(),
        "bob dropped"
    );
    assert!(folder_bodies(&f, "bob", "Junk E-mail").await.is_empty());
}

#[tokio::test]
async fn a_malformed_answer_without_rule_timeout_gets_the_fallback_at_once() {
    let f = fixture().await;
    let hook = Hook::start(|_| (200, "not json")).await;
    let id = defer(&f, &hook_target(&hook.url, 0)).await;
    work_until_done(&f, &hook, &id, Duration::from_secs(20)).await;
    assert_eq!(hook.received().len(), 1, "rule timeout 0: no retry");
    for user in ["alice", "bob"] {
        assert_eq!(
            folder_bodies(&f, user, "Junk E-mail").await,
            vec![MESSAGE.to_vec()],
            "{user} gets the fallback"
        );
    }
}

#[tokio::test]
async fn put_raw_message_content_replaces_what_is_delivered() {
    let f = fixture().await;
    let hook = Hook::start(|_| {
        (
            200,
            r#"{"actions": [{"action": {"type": "DEFAULT"}, "allRecipients": true}]}"#,
        )
    })
    .await;
    let id = defer(&f, &hook_target(&hook.url, 0)).await;
    let flow = MessageFlow::new(f.store.clone(), "us-east-1".to_string());
    let got = flow
        .get_raw_message_content(
            &ctx(ACCOUNT),
            GetRawMessageContentRequest {
                message_id: id.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(got.message_content.0, MESSAGE);
    let other = flow
        .get_raw_message_content(
            &ctx("444455556666"),
            GetRawMessageContentRequest {
                message_id: id.clone(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(other.code, "ResourceNotFoundException");

    f.store
        .claim_s3_bucket("content", ACCOUNT, 1)
        .await
        .unwrap();
    let put = |key: &str| PutRawMessageContentRequest {
        message_id: id.clone(),
        content: RawMessageContent {
            s3_reference: S3Reference {
                bucket: "content".to_string(),
                key: key.to_string(),
                object_version: None,
            },
        },
    };
    messageflow::put_bucket_object(&f.store, ACCOUNT, "content", "bad", b"no headers here\n")
        .await
        .unwrap();
    let rejected = flow
        .put_raw_message_content(&ctx(ACCOUNT), put("bad"))
        .await
        .unwrap_err();
    assert_eq!(rejected.code, "MessageRejected");
    let missing = flow
        .put_raw_message_content(&ctx(ACCOUNT), put("missing"))
        .await
        .unwrap_err();
    assert_eq!(missing.code, "InvalidContentLocation");
    let new = MESSAGE
        .to_vec()
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace("Subject: Hooked", "Subject: Rewritten")
        .replace("\r\n", "\n");
    messageflow::put_bucket_object(&f.store, ACCOUNT, "content", "new", new.as_bytes())
        .await
        .unwrap();
    flow.put_raw_message_content(&ctx(ACCOUNT), put("new"))
        .await
        .unwrap();

    work_until_done(&f, &hook, &id, Duration::from_secs(20)).await;
    let expected = new.replace('\n', "\r\n").into_bytes();
    assert_eq!(
        folder_bodies(&f, "alice", "INBOX").await,
        vec![expected.clone()]
    );
    assert_eq!(folder_bodies(&f, "bob", "INBOX").await, vec![expected]);
    let frozen = flow
        .put_raw_message_content(&ctx(ACCOUNT), put("new"))
        .await
        .unwrap_err();
    assert_eq!(frozen.code, "MessageFrozen");
}
