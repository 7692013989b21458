//! Recipient resolution for delivery: local domains, users, aliases, groups (nested, with a
//! cycle), disabled entities and inactive organizations. Runs on SQLite, and on PostgreSQL too
//! when `CARILLON_TEST_DATABASE_URL` is set (each run in a fresh schema).

use carillon_store::{LocalMailbox, Resolution, Store};
use sqlx::AnyPool;

/// A store on SQLite, or on PostgreSQL in a fresh schema, plus a raw pool for fixture rows.
struct TestDb {
    store: Store,
    raw: AnyPool,
    _dir: std::sync::Arc<tempfile::TempDir>,
    /// PostgreSQL only: the server URL and the schema made for this run.
    schema: Option<(String, String)>,
}

impl TestDb {
    /// Drops the PostgreSQL schema of a run that passed (a failed one is kept to look at).
    async fn cleanup(self) {
        self.store.close().await;
        self.raw.close().await;
        if let Some((base, schema)) = self.schema {
            let admin = AnyPool::connect(&base).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

async fn databases() -> Vec<TestDb> {
    sqlx::any::install_default_drivers();
    let mut urls = Vec::new();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    urls.push((
        format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display()),
        None,
    ));
    if let Ok(base) = std::env::var("CARILLON_TEST_DATABASE_URL") {
        let schema = format!("t_{}", uuid_like());
        let admin = AnyPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push((
            format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            Some((base.clone(), schema)),
        ));
    }
    let mut out = Vec::new();
    for (i, (url, schema)) in urls.into_iter().enumerate() {
        let blob_dir = dir.path().join(format!("blobs{i}"));
        let blob_url = url::Url::from_directory_path(&blob_dir)
            .unwrap()
            .to_string();
        std::fs::create_dir_all(&blob_dir).unwrap();
        let store = Store::open(&url, &blob_url).await.unwrap();
        let raw = AnyPool::connect(&url).await.unwrap();
        out.push(TestDb {
            store,
            raw,
            _dir: dir.clone(),
            schema,
        });
    }
    out
}

/// A name unique across processes and across the tests of this one.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}{:x}{n}", std::process::id())
}

async fn exec(pool: &AnyPool, sql: &str, args: &[&str]) {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(a.to_string());
    }
    q.execute(pool).await.unwrap();
}

/// Directory fixture: an account, an organization (state given) and its domain.
async fn org(pool: &AnyPool, org_id: &str, domain: &str, state: &str) {
    let account = format!("acct-{org_id}");
    exec(
        pool,
        "INSERT INTO accounts (account_id, name, created_at) VALUES ($1, $1, 0)",
        &[&account],
    )
    .await;
    exec(
        pool,
        "INSERT INTO organizations (organization_id, account_id, alias, state, directory_id, \
         directory_type, created_at) VALUES ($1, $2, $1, $3, 'd', 'WorkMailDirectory', 0)",
        &[org_id, &account, state],
    )
    .await;
    exec(
        pool,
        "INSERT INTO mail_domains (domain_name, organization_id, ownership_token, \
         ownership_verification_status, dkim_verification_status, created_at) \
         VALUES ($1, $2, 't', 'VERIFIED', 'VERIFIED', 0)",
        &[domain, org_id],
    )
    .await;
}

/// An entity with a primary address; a USER in state ENABLED also gets a mailbox row.
async fn entity(pool: &AnyPool, org_id: &str, id: &str, kind: &str, state: &str, address: &str) {
    exec(
        pool,
        "INSERT INTO entities (entity_id, organization_id, kind, name, email, state, created_at) \
         VALUES ($1, $2, $3, $1, $4, $5, 0)",
        &[id, org_id, kind, address, state],
    )
    .await;
    add_address(pool, org_id, id, address, "1").await;
    if kind == "USER" && state == "ENABLED" {
        exec(
            pool,
            "INSERT INTO mailboxes (user_id, organization_id, size_bytes, created_at) \
             VALUES ($1, $2, 0, 0)",
            &[id, org_id],
        )
        .await;
    }
}

async fn add_address(pool: &AnyPool, org_id: &str, id: &str, address: &str, primary: &str) {
    let domain = address.rsplit_once('@').unwrap().1;
    exec(
        pool,
        "INSERT INTO addresses (address, domain_name, organization_id, entity_id, is_primary) \
         VALUES ($1, $2, $3, $4, CAST($5 AS BIGINT))",
        &[address, domain, org_id, id, primary],
    )
    .await;
}

async fn member(pool: &AnyPool, org_id: &str, group: &str, member: &str) {
    exec(
        pool,
        "INSERT INTO group_members (group_id, member_id, organization_id) VALUES ($1, $2, $3)",
        &[group, member, org_id],
    )
    .await;
}

fn users(resolution: Resolution) -> Vec<String> {
    match resolution {
        Resolution::Mailboxes(m) => {
            let mut ids: Vec<String> = m.into_iter().map(|m| m.user_id).collect();
            ids.sort();
            ids
        }
        other => panic!("expected mailboxes, got {other:?}"),
    }
}

#[tokio::test]
async fn resolves_users_aliases_groups_and_refuses_disabled() {
    for db in databases().await {
        let (s, p) = (&db.store, &db.raw);
        let o = format!("m-{}", uuid_like());
        let domain = format!("{o}.example");
        let a = |local: &str| format!("{local}@{domain}");
        org(p, &o, &domain, "Active").await;
        let id = |n: &str| format!("{o}-{n}");
        entity(p, &o, &id("alice"), "USER", "ENABLED", &a("alice")).await;
        entity(p, &o, &id("bob"), "USER", "ENABLED", &a("bob")).await;
        entity(p, &o, &id("carol"), "USER", "ENABLED", &a("carol")).await;
        entity(p, &o, &id("dave"), "USER", "DISABLED", &a("dave")).await;
        add_address(p, &o, &id("alice"), &a("sales"), "0").await;
        exec(
            p,
            "UPDATE entities SET mailbox_quota_mb = 10 WHERE entity_id = $1",
            &[&id("alice")],
        )
        .await;
        // team = {bob, inner}; inner = {carol, dave (disabled), team (cycle), alice}
        entity(p, &o, &id("team"), "GROUP", "ENABLED", &a("team")).await;
        entity(p, &o, &id("inner"), "GROUP", "ENABLED", &a("inner")).await;
        entity(p, &o, &id("off"), "GROUP", "DISABLED", &a("off")).await;
        member(p, &o, &id("team"), &id("bob")).await;
        member(p, &o, &id("team"), &id("inner")).await;
        member(p, &o, &id("inner"), &id("carol")).await;
        member(p, &o, &id("inner"), &id("dave")).await;
        member(p, &o, &id("inner"), &id("team")).await;
        member(p, &o, &id("inner"), &id("alice")).await;
        member(p, &o, &id("inner"), &id("bob")).await;
        member(p, &o, &id("off"), &id("bob")).await;

        assert!(s.is_local_domain(&domain.to_uppercase()).await.unwrap());
        assert!(!s.is_local_domain("elsewhere.example").await.unwrap());

        assert_eq!(
            s.resolve_recipient(&a("alice")).await.unwrap(),
            Resolution::Mailboxes(vec![LocalMailbox {
                organization_id: o.clone(),
                user_id: id("alice"),
                quota_bytes: 10 * 1024 * 1024,
            }])
        );
        // Alias, compared case-insensitively.
        assert_eq!(
            users(s.resolve_recipient(&a("SALES")).await.unwrap()),
            vec![id("alice")]
        );
        // Default quota when none is set.
        match s.resolve_recipient(&a("bob")).await.unwrap() {
            Resolution::Mailboxes(m) => assert_eq!(m[0].quota_bytes, 51_200 * 1024 * 1024),
            other => panic!("{other:?}"),
        }
        // Nested groups with a cycle: each enabled mailbox once, the disabled user left out.
        let mut expected = vec![id("alice"), id("bob"), id("carol")];
        expected.sort();
        assert_eq!(
            users(s.resolve_recipient(&a("team")).await.unwrap()),
            expected
        );
        assert_eq!(
            users(s.resolve_recipient(&a("inner")).await.unwrap()),
            expected
        );

        assert_eq!(
            s.resolve_recipient(&a("dave")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient(&a("off")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient(&a("nobody")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient("alice@elsewhere.example")
                .await
                .unwrap(),
            Resolution::NoSuchDomain
        );
        assert_eq!(
            s.resolve_recipient("no-at-sign").await.unwrap(),
            Resolution::NoSuchDomain
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn users_of_an_inactive_organization_are_unknown() {
    for db in databases().await {
        let (s, p) = (&db.store, &db.raw);
        let o = format!("m-{}", uuid_like());
        let domain = format!("{o}.example");
        org(p, &o, &domain, "Deleting").await;
        entity(
            p,
            &o,
            &format!("{o}-u"),
            "USER",
            "ENABLED",
            &format!("u@{domain}"),
        )
        .await;
        assert!(s.is_local_domain(&domain).await.unwrap());
        assert_eq!(
            s.resolve_recipient(&format!("u@{domain}")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_enabled_user_without_a_mailbox_is_unknown() {
    for db in databases().await {
        let (s, p) = (&db.store, &db.raw);
        let o = format!("m-{}", uuid_like());
        let domain = format!("{o}.example");
        org(p, &o, &domain, "Active").await;
        // A USER row in state ENABLED but no mailbox row (never registered).
        entity(
            p,
            &o,
            &format!("{o}-x"),
            "USER",
            "DISABLED",
            &format!("x@{domain}"),
        )
        .await;
        exec(
            p,
            "UPDATE entities SET state = 'ENABLED' WHERE entity_id = $1",
            &[&format!("{o}-x")],
        )
        .await;
        assert_eq!(
            s.resolve_recipient(&format!("x@{domain}")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        db.cleanup().await;
    }
}
