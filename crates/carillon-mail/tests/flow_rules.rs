//! Email flow rules applied by delivery (workmail.md §2.9, §2.10), without a protocol: every
//! inbound action per recipient, the outbound actions of a submission (Drop, Bounce, Route to
//! SMTP gateway), a synchronous Run hook holding its recipients for the hook worker, and
//! `deliver_with_actions` applying a hook's decided actions.

use std::time::Duration;

use bytes::Bytes;
use carillon_mail::delivery::{self, Envelope, RecipientStatus};
use carillon_mail::flow::rules::{FlowAction, FlowDirection};
use carillon_mail::login::MailUser;
use carillon_store::testing::TestStore;
use carillon_store::{FlowRuleRecord, SmtpGatewayRecord};

const DOMAIN: &str = "flow.test";
const ORG: &str = "m-flowtest";
const ACCOUNT: &str = "111122223333";

fn addr(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// Users alice, bob and carol with mailboxes.
async fn fixture() -> TestStore {
    let f = TestStore::sqlite().await;
    f.insert_account(ACCOUNT).await;
    f.insert_organization(ACCOUNT, ORG, "flow", "Active").await;
    f.insert_mail_domain(ORG, DOMAIN).await;
    for name in ["alice", "bob", "carol"] {
        f.insert_entity(ORG, name, "USER", "ENABLED", Some(&addr(name)), None)
            .await;
        f.insert_address(ORG, name, &addr(name), false).await;
        f.store.create_mailbox(ORG, name).await.unwrap();
    }
    f
}

async fn rule(
    f: &TestStore,
    name: &str,
    direction: &str,
    action: &str,
    to: &str,
) -> FlowRuleRecord {
    let record = FlowRuleRecord {
        rule_id: format!("efr-{name}"),
        organization_id: ORG.to_string(),
        name: name.to_string(),
        direction: direction.to_string(),
        action: action.to_string(),
        sender_patterns: vec!["*".to_string()],
        destination_patterns: vec![to.to_string()],
        gateway_id: None,
        hook_endpoint: None,
        hook_synchronous: None,
        hook_fallback_action: None,
        hook_timeout_minutes: None,
        created_at: 1,
        updated_at: 1,
    };
    put(f, &record).await;
    record
}

async fn put(f: &TestStore, record: &FlowRuleRecord) {
    let written = f
        .store
        .put_flow_rule(ACCOUNT, record, false, 1_000)
        .await
        .unwrap();
    assert_eq!(written, carillon_store::FlowRuleWrite::Done);
}

async fn subjects(f: &TestStore, user: &str, folder: &str) -> Vec<String> {
    let Some(folder) = f.store.folder(user, folder).await.unwrap() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for copy in f
        .store
        .list_messages(user, &folder.folder_id)
        .await
        .unwrap()
    {
        let raw = carillon_mail::crypto::read_mailbox_copy(
            &f.store,
            user,
            &copy.blob_key,
            copy.message_key.as_deref(),
        )
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(line) = text.lines().find(|l| l.starts_with("Subject: ")) {
            out.push(line["Subject: ".len()..].to_string());
        }
    }
    out
}

fn message(from: &str, subject: &str) -> Bytes {
    Bytes::from(format!(
        "From: <{from}>\r\nSubject: {subject}\r\n\r\nbody\r\n"
    ))
}

fn envelope(from: &str, to: &[String]) -> Envelope {
    Envelope {
        mail_from: from.to_string(),
        recipients: to.to_vec(),
    }
}

fn alice() -> MailUser {
    MailUser {
        account_id: ACCOUNT.to_string(),
        organization_id: ORG.to_string(),
        user_id: "alice".to_string(),
        email: addr("alice"),
        addresses: vec![addr("alice")],
    }
}

#[tokio::test]
async fn inbound_rules_act_per_recipient() {
    let f = fixture().await;
    rule(&f, "drop-alice", "INBOUND", "DROP", &addr("alice")).await;
    rule(&f, "junk-bob", "INBOUND", "MOVE_TO_JUNK", &addr("bob")).await;
    rule(&f, "bounce-carol", "INBOUND", "BOUNCE", &addr("carol")).await;
    let to = [addr("alice"), addr("bob"), addr("carol")];
    let outcome = delivery::deliver_inbound(
        &f.store,
        &envelope("x@far.test", &to),
        message("x@far.test", "mixed"),
    )
    .await
    .unwrap();
    let statuses: Vec<RecipientStatus> = outcome.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Dropped,
            RecipientStatus::Delivered,
            RecipientStatus::RuleBounced
        ]
    );
    assert!(outcome.accepted());
    assert!(subjects(&f, "alice", "INBOX").await.is_empty(), "dropped");
    assert_eq!(subjects(&f, "bob", "Junk E-mail").await, ["mixed"]);
    assert!(subjects(&f, "bob", "INBOX").await.is_empty());
    assert!(subjects(&f, "carol", "INBOX").await.is_empty(), "bounced");
    // The bounce goes to the foreign sender with the null reverse-path.
    let queued = f.store.list_outbound(ORG).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipient, "x@far.test");
    assert_eq!(queued[0].envelope_from, "");

    // Everything dropped: still accepted, nothing stored.
    let outcome = delivery::deliver_inbound(
        &f.store,
        &envelope("x@far.test", &[addr("alice")]),
        message("x@far.test", "gone"),
    )
    .await
    .unwrap();
    assert!(outcome.accepted() && outcome.blob_key.is_none());
}

#[tokio::test]
async fn outbound_rules_drop_bounce_and_route_to_a_gateway() {
    let f = fixture().await;
    let gateway = SmtpGatewayRecord {
        gateway_id: "gw-1".to_string(),
        organization_id: ORG.to_string(),
        name: "relay".to_string(),
        address: "relay.test".to_string(),
        port: 587,
        username: "u".to_string(),
        password: "Pa55-word!".to_string(),
        created_at: 1,
        updated_at: 1,
    };
    f.store
        .create_smtp_gateway(ACCOUNT, &gateway)
        .await
        .unwrap();
    rule(&f, "drop", "OUTBOUND", "DROP", "void.test").await;
    rule(&f, "bounce", "OUTBOUND", "BOUNCE", "blocked.test").await;
    let mut route = rule(&f, "route", "OUTBOUND", "DEFAULT", "partner.test").await;
    route.action = "ROUTE_TO_GATEWAY".to_string();
    route.gateway_id = Some("gw-1".to_string());
    f.store
        .put_flow_rule(ACCOUNT, &route, true, 1_000)
        .await
        .unwrap();
    let to = [
        "a@void.test".to_string(),
        "b@blocked.test".to_string(),
        "c@partner.test".to_string(),
        "d@elsewhere.test".to_string(),
    ];
    let outcome = delivery::submit(
        &f.store,
        &alice(),
        &envelope(&addr("alice"), &to),
        message(&addr("alice"), "out"),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let statuses: Vec<RecipientStatus> = outcome.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Dropped,
            RecipientStatus::RuleBounced,
            RecipientStatus::Queued,
            RecipientStatus::Queued
        ]
    );
    let mut queued: Vec<(String, Option<String>)> = f
        .store
        .list_outbound(ORG)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.recipient, q.gateway_id))
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        [
            ("c@partner.test".to_string(), Some("gw-1".to_string())),
            ("d@elsewhere.test".to_string(), None)
        ]
    );
    assert_eq!(subjects(&f, "alice", "Sent Items").await, ["out"]);
    // The sender hears of the bounce: a DSN in her INBOX.
    assert_eq!(
        subjects(&f, "alice", "INBOX").await,
        ["Undelivered Mail Returned to Sender"]
    );
}

#[tokio::test]
async fn a_synchronous_hook_holds_its_recipients_and_the_worker_delivers_its_actions() {
    let f = fixture().await;
    let mut hook = rule(&f, "hook", "INBOUND", "DEFAULT", "*").await;
    hook.action = "RUN_HOOK".to_string();
    hook.hook_endpoint = Some("https://hook.test/x".to_string());
    hook.hook_synchronous = Some(true);
    hook.hook_fallback_action = Some("DEFAULT".to_string());
    hook.hook_timeout_minutes = Some(0);
    f.store
        .put_flow_rule(ACCOUNT, &hook, true, 1_000)
        .await
        .unwrap();
    let to = [addr("alice"), addr("bob")];
    let outcome = delivery::deliver_inbound(
        &f.store,
        &envelope("x@far.test", &to),
        message("x@far.test", "held"),
    )
    .await
    .unwrap();
    assert!(outcome.accepted() && outcome.blob_key.is_none());
    assert!(outcome
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::HeldForHook));
    let now = carillon_core::time::now_millis();
    let held = f
        .store
        .lease_transit_message("node", now, 60_000)
        .await
        .unwrap()
        .expect("the message waits for its hook");
    assert_eq!(held.recipients, to);
    assert!(subjects(&f, "alice", "INBOX").await.is_empty());

    // The worker's way back in: the hook's answer, per recipient.
    let actions = [
        (addr("alice"), FlowAction::MoveToJunk),
        (addr("bob"), FlowAction::Drop),
    ];
    let outcome = delivery::deliver_with_actions(
        &f.store,
        FlowDirection::Inbound,
        &envelope("x@far.test", &to),
        message("x@far.test", "held"),
        "hook",
        &actions,
        None,
    )
    .await
    .unwrap();
    let statuses: Vec<RecipientStatus> = outcome.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RecipientStatus::Delivered, RecipientStatus::Dropped]
    );
    assert_eq!(subjects(&f, "alice", "Junk E-mail").await, ["held"]);
    assert!(subjects(&f, "bob", "INBOX").await.is_empty());
}
