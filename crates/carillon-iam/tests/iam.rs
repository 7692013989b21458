//! carillon-iam over a real store: bootstrap idempotence and the credentials file, tenant
//! isolation of accounts, managed policies on SigV4-verified callers, key states, and the
//! audit trail. Runs on SQLite, and on PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is
//! set (fresh schema per test).

use carillon_core::error::codes;
use carillon_core::RequestContext;
use carillon_iam::sigv4::{self, SigningCredentials};
use carillon_iam::{
    audit_cursor, AccessKey, AuditRecord, Iam, IamError, RequestConditions, VerifiedCaller,
};
use carillon_store::testing::{test_stores, TestStore};
use carillon_store::ACCESS_KEY_INACTIVE;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

const REGION: &str = "us-east-1";

struct Env {
    iam: Iam,
    db: TestStore,
}

async fn environments() -> Vec<Env> {
    test_stores()
        .await
        .into_iter()
        .map(|db| Env {
            iam: Iam::new(db.store.clone(), REGION),
            db,
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap()
}

/// A WorkMail awsJson1.1 request signed with `key` as the aws CLI would send it.
fn signed(key: &AccessKey, target: &str, body: &[u8], at: DateTime<Utc>) -> http::request::Parts {
    let mut parts = http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:8080/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("WorkMailService.{target}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let credentials = SigningCredentials {
        access_key_id: &key.access_key_id,
        secret_access_key: &key.secret_access_key,
    };
    sigv4::sign_request(&mut parts, body, credentials, REGION, "workmail", at).unwrap();
    parts
}

async fn caller_of(iam: &Iam, key: &AccessKey) -> VerifiedCaller {
    iam.verify(&signed(key, "ListUsers", b"{}", now()), b"{}", now())
        .await
        .unwrap()
}

fn conditions() -> RequestConditions {
    RequestConditions {
        secure_transport: false,
        source_ip: "127.0.0.1".to_string(),
        user_agent: "aws-cli/2.17.0".to_string(),
        current_time: now(),
    }
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_writes_a_private_credentials_file() {
    for env in environments().await {
        let path = env.db.dir().join("admin-credentials");
        let key = env
            .iam
            .ensure_bootstrap(&path)
            .await
            .unwrap()
            .expect("created");
        assert!(key.principal_arn.ends_with(":user/admin"));
        assert!(carillon_core::ids::is_account_id(&key.account_id));
        assert!(!format!("{key:?}").contains(&key.secret_access_key));

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "[default]".to_string(),
                format!("aws_access_key_id = {}", key.access_key_id),
                format!("aws_secret_access_key = {}", key.secret_access_key),
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(env.db.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("admin-credentials"))
            .collect();
        assert_eq!(names, ["admin-credentials"]);

        // Second start: nothing changes.
        assert!(env.iam.ensure_bootstrap(&path).await.unwrap().is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // File lost: secrets are not recreated.
        std::fs::remove_file(&path).unwrap();
        assert!(env.iam.ensure_bootstrap(&path).await.unwrap().is_none());
        assert!(!path.exists());

        // The written key works and is an administrator.
        let caller = caller_of(&env.iam, &key).await;
        assert_eq!(caller.account_id, key.account_id);
        assert_eq!(caller.service, "workmail");
        assert_eq!(caller.region, REGION);
        env.iam
            .authorize(&caller, "workmail:DeleteOrganization", "*", &conditions())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn accounts_are_isolated_tenants() {
    for env in environments().await {
        let path = env.db.dir().join("admin-credentials");
        let bootstrap = env.iam.ensure_bootstrap(&path).await.unwrap().unwrap();
        let (acme, acme_key) = env.iam.create_account("acme corp").await.unwrap();
        let (other, other_key) = env.iam.create_account("other").await.unwrap();
        assert_ne!(acme.account_id, other.account_id);
        assert_eq!(acme_key.account_id, acme.account_id);
        assert_eq!(
            acme_key.principal_arn,
            format!("arn:aws:iam::{}:user/admin", acme.account_id)
        );

        let callers = [
            caller_of(&env.iam, &bootstrap).await,
            caller_of(&env.iam, &acme_key).await,
            caller_of(&env.iam, &other_key).await,
        ];
        assert_eq!(callers[0].account_id, bootstrap.account_id);
        assert_eq!(callers[1].account_id, acme.account_id);
        assert_eq!(callers[2].account_id, other.account_id);

        // One account's key cannot be used with another account's secret.
        let forged = AccessKey {
            secret_access_key: other_key.secret_access_key.clone(),
            ..acme_key.clone()
        };
        let parts = signed(&forged, "ListUsers", b"{}", now());
        let err = env.iam.verify(&parts, b"{}", now()).await.unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);

        assert!(matches!(
            env.iam.create_account("acme corp").await.unwrap_err(),
            IamError::AccountNameExists(_)
        ));
        for bad in ["", " padded", "semi;colon", &"x".repeat(65)] {
            assert!(
                matches!(
                    env.iam.create_account(bad).await.unwrap_err(),
                    IamError::InvalidAccountName(_)
                ),
                "{bad:?}"
            );
        }
        // A key created for a named account lands in it.
        let key = env
            .iam
            .create_access_key(Some(&other.account_id), "AmazonWorkMailFullAccess")
            .await
            .unwrap();
        assert_eq!(caller_of(&env.iam, &key).await.account_id, other.account_id);
        assert!(matches!(
            env.iam
                .create_access_key(Some("999999999999"), "AdministratorAccess")
                .await
                .unwrap_err(),
            IamError::AccountNotFound(_)
        ));
    }
}

#[tokio::test]
async fn read_only_key_lists_but_cannot_create() {
    for env in environments().await {
        let path = env.db.dir().join("admin-credentials");
        let bootstrap = env.iam.ensure_bootstrap(&path).await.unwrap().unwrap();
        let key = env
            .iam
            .create_access_key(None, "AmazonWorkMailReadOnlyAccess")
            .await
            .unwrap();
        assert_eq!(key.account_id, bootstrap.account_id);
        assert_ne!(key.principal_arn, bootstrap.principal_arn);
        let caller = caller_of(&env.iam, &key).await;
        let org = format!(
            "arn:aws:workmail:us-east-1:{}:organization/m-00000000000000000000000000000000",
            caller.account_id
        );
        env.iam
            .authorize(&caller, "workmail:ListUsers", &org, &conditions())
            .await
            .unwrap();
        let err = env
            .iam
            .authorize(&caller, "workmail:CreateUser", &org, &conditions())
            .await
            .unwrap_err();
        assert_eq!(err.code, codes::ACCESS_DENIED);
        assert_eq!(
            err.message,
            format!(
                "User: {} is not authorized to perform: workmail:CreateUser on resource: {org}",
                key.principal_arn
            )
        );

        let err = env
            .iam
            .create_access_key(None, "AmazonWorkMailReadOnly")
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, IamError::UnknownPolicy(_)));
        for name in carillon_iam::MANAGED_POLICY_NAMES {
            assert!(message.contains(name), "{message}");
        }
    }
}

#[tokio::test]
async fn verification_failures() {
    for env in environments().await {
        let path = env.db.dir().join("admin-credentials");
        let key = env.iam.ensure_bootstrap(&path).await.unwrap().unwrap();

        let unknown = AccessKey {
            access_key_id: "AKIAUNKNOWNUNKNOWN00".to_string(),
            ..key.clone()
        };
        let err = env
            .iam
            .verify(&signed(&unknown, "ListUsers", b"{}", now()), b"{}", now())
            .await
            .unwrap_err();
        assert_eq!(err.code, codes::UNRECOGNIZED_CLIENT);
        assert_eq!(
            err.message,
            "The security token included in the request is invalid."
        );

        let body = br#"{"OrganizationId":"m-1"}"#;
        let parts = signed(&key, "ListUsers", body, now());
        let err = env
            .iam
            .verify(&parts, br#"{"OrganizationId":"m-2"}"#, now())
            .await
            .unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
        let err = env
            .iam
            .verify(&parts, body, now() + Duration::minutes(20))
            .await
            .unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
        assert!(err.message.starts_with("Signature expired:"));

        let elsewhere = Iam::new(env.db.store.clone(), "eu-west-1");
        let err = elsewhere.verify(&parts, body, now()).await.unwrap_err();
        assert!(err
            .message
            .starts_with("Credential should be scoped to a valid region"));

        let unsigned = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let err = env.iam.verify(&unsigned, b"", now()).await.unwrap_err();
        assert_eq!(err.code, codes::MISSING_AUTHENTICATION_TOKEN);

        // A deactivated key is no longer recognized.
        env.db
            .store
            .set_access_key_status(&key.account_id, &key.access_key_id, ACCESS_KEY_INACTIVE)
            .await
            .unwrap();
        let err = env.iam.verify(&parts, body, now()).await.unwrap_err();
        assert_eq!(err.code, codes::UNRECOGNIZED_CLIENT);
    }
}

#[tokio::test]
async fn audit_records_round_trip_without_secrets() {
    for env in environments().await {
        let path = env.db.dir().join("admin-credentials");
        let key = env.iam.ensure_bootstrap(&path).await.unwrap().unwrap();
        let (_, other_key) = env.iam.create_account("other").await.unwrap();
        let caller = caller_of(&env.iam, &key).await;
        let ctx = RequestContext {
            account_id: caller.account_id.clone(),
            principal_arn: caller.principal_arn.clone(),
            access_key_id: caller.access_key_id.clone(),
            region: REGION.to_string(),
            request_id: "3f0c8a52-1111-2222-3333-444455556666".to_string(),
            source_ip: "192.0.2.7".to_string(),
        };
        let create = AuditRecord::for_call(
            &ctx,
            &caller,
            "workmail",
            "CreateUser",
            "aws-cli/2.17.0",
            json!({"OrganizationId": "m-1", "Name": "alice", "DisplayName": "Alice", "Password": "Correct-Horse-9"}),
            Some(json!({"UserId": "u-1"})),
            None,
        );
        env.iam.record_audit(&create).await.unwrap();
        let denied =
            carillon_core::ApiError::new(codes::ACCESS_DENIED, "User: x is not authorized");
        let list = AuditRecord::for_call(
            &ctx,
            &caller,
            "workmail",
            "ListUsers",
            "boto3",
            json!({"OrganizationId": "m-1"}),
            None,
            Some(&denied),
        );
        env.iam.record_audit(&list).await.unwrap();

        let records = env
            .iam
            .list_audit_records(&key.account_id, None, 10)
            .await
            .unwrap();
        assert_eq!(records.len(), 2);
        let stored = records
            .iter()
            .find(|r| r.event_name == "CreateUser")
            .unwrap();
        assert_eq!(stored, &create.redacted());
        assert_eq!(
            stored.request_parameters["Password"],
            "HIDDEN_DUE_TO_SECURITY_REASONS"
        );
        assert_eq!(stored.request_parameters["Name"], "alice");
        assert_eq!(stored.user_identity.access_key_id, key.access_key_id);
        assert_eq!(stored.source_ip_address, "192.0.2.7");
        assert!(!stored.read_only);
        let failed = records
            .iter()
            .find(|r| r.event_name == "ListUsers")
            .unwrap();
        assert_eq!(failed.error_code.as_deref(), Some(codes::ACCESS_DENIED));
        assert!(failed.read_only);
        for record in &records {
            let text = record.to_json().to_string();
            assert!(!text.contains("Correct-Horse-9"));
            assert!(!text.contains(&key.secret_access_key));
        }

        // Paging, and the other tenant sees nothing of it.
        let first = env
            .iam
            .list_audit_records(&key.account_id, None, 1)
            .await
            .unwrap();
        let rest = env
            .iam
            .list_audit_records(&key.account_id, Some(&audit_cursor(&first[0])), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_ne!(rest[0].event_id, first[0].event_id);
        assert!(env
            .iam
            .list_audit_records(&other_key.account_id, None, 10)
            .await
            .unwrap()
            .is_empty());
    }
}
