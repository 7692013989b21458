//! Chime accounts: create, read, list (name prefix, paging), update, the deleted window and
//! the purge, per tenant. On SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL` is
//! set.

use carillon_store::testing::test_stores;
use carillon_store::{ChimeAccountFilter, ChimeAccountRecord};

fn account(tenant: &str, id: &str, name: &str) -> ChimeAccountRecord {
    ChimeAccountRecord {
        chime_account_id: id.to_string(),
        account_id: tenant.to_string(),
        name: name.to_string(),
        account_type: "Team".to_string(),
        account_status: "Active".to_string(),
        default_license: "Pro".to_string(),
        disable_remote_control: false,
        enable_dial_out: true,
        created_at: 1_000,
        deleted_at: None,
    }
}

fn filter(prefix: Option<&str>, after: Option<&str>, limit: i64) -> ChimeAccountFilter {
    ChimeAccountFilter {
        name_prefix: prefix.map(str::to_string),
        after: after.map(str::to_string),
        limit,
    }
}

fn ids(accounts: &[ChimeAccountRecord]) -> Vec<&str> {
    accounts
        .iter()
        .map(|a| a.chime_account_id.as_str())
        .collect()
}

#[tokio::test]
async fn accounts_are_created_listed_updated_and_scoped_to_their_tenant() {
    for t in test_stores().await {
        let s = &t.store;
        let tenant = carillon_core::ids::new_account_id();
        let other = carillon_core::ids::new_account_id();
        t.insert_account(&tenant).await;
        t.insert_account(&other).await;
        for (id, name) in [
            ("a1", "Sales"),
            ("a2", "Sales EU"),
            ("a3", "sales"),
            ("a4", "Ops"),
        ] {
            s.create_chime_account(&account(&tenant, id, name))
                .await
                .unwrap();
        }
        s.create_chime_account(&account(&other, "b1", "Sales"))
            .await
            .unwrap();

        let got = s.chime_account(&tenant, "a2", 0).await.unwrap();
        assert_eq!(got, Some(account(&tenant, "a2", "Sales EU")), "{}", t.label);
        assert_eq!(s.chime_account(&other, "a2", 0).await.unwrap(), None);

        let all = s
            .list_chime_accounts(&tenant, &filter(None, None, 10))
            .await
            .unwrap();
        assert_eq!(ids(&all), ["a1", "a2", "a3", "a4"], "{}", t.label);
        let sales = s
            .list_chime_accounts(&tenant, &filter(Some("Sales"), None, 10))
            .await
            .unwrap();
        assert_eq!(ids(&sales), ["a1", "a2"], "prefix is case-sensitive");
        let page = s
            .list_chime_accounts(&tenant, &filter(None, Some("a2"), 1))
            .await
            .unwrap();
        assert_eq!(ids(&page), ["a3"]);

        let mut changed = account(&tenant, "a4", "Operations");
        changed.default_license = "Basic".to_string();
        changed.disable_remote_control = true;
        changed.enable_dial_out = false;
        assert!(s.update_chime_account(&changed).await.unwrap());
        assert_eq!(
            s.chime_account(&tenant, "a4", 0).await.unwrap(),
            Some(changed.clone())
        );
        let mut foreign = changed.clone();
        foreign.account_id = other.clone();
        assert!(!s.update_chime_account(&foreign).await.unwrap());
    }
}

#[tokio::test]
async fn deleted_accounts_leave_listings_stay_readable_for_a_window_then_purge() {
    for t in test_stores().await {
        let s = &t.store;
        let tenant = carillon_core::ids::new_account_id();
        t.insert_account(&tenant).await;
        s.create_chime_account(&account(&tenant, "live", "Live"))
            .await
            .unwrap();
        let mut deleted = account(&tenant, "gone", "Gone");
        s.create_chime_account(&deleted).await.unwrap();
        deleted.account_status = "Suspended".to_string();
        deleted.deleted_at = Some(5_000);
        assert!(s.update_chime_account(&deleted).await.unwrap());

        let listed = s
            .list_chime_accounts(&tenant, &filter(None, None, 10))
            .await
            .unwrap();
        assert_eq!(ids(&listed), ["live"], "{}", t.label);
        assert_eq!(
            s.chime_account(&tenant, "gone", 4_999).await.unwrap(),
            Some(deleted.clone())
        );
        assert_eq!(s.chime_account(&tenant, "gone", 5_000).await.unwrap(), None);

        assert_eq!(s.purge_chime_accounts(&tenant, 4_999).await.unwrap(), 0);
        assert_eq!(s.purge_chime_accounts(&tenant, 5_000).await.unwrap(), 1);
        assert_eq!(s.chime_account(&tenant, "gone", 0).await.unwrap(), None);
        assert!(s.chime_account(&tenant, "live", 0).await.unwrap().is_some());
    }
}
