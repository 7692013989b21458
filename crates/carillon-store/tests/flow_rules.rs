//! Email flow rules and SMTP gateways (workmail.md §2.8, §2.9): tenant-scoped CRUD, the
//! name, per-organization sender pattern and gateway checks of `put_flow_rule`, a gateway in
//! use refused deletion, and the gateway a queue row carries. On SQLite, and on PostgreSQL
//! when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{FlowRuleRecord, FlowRuleWrite, NewOutbound, SmtpGatewayRecord, StoreError};

/// An Active organization; returns (account, organization).
async fn organization(t: &TestStore) -> (String, String) {
    let account = carillon_core::ids::new_account_id();
    let org = carillon_core::ids::new_organization_id();
    t.insert_account(&account).await;
    t.insert_organization(&account, &org, &unique_name("f"), "Active")
        .await;
    (account, org)
}

fn rule(org: &str, name: &str, senders: usize) -> FlowRuleRecord {
    FlowRuleRecord {
        rule_id: format!("efr-{}", carillon_core::ids::new_uuid()),
        organization_id: org.to_string(),
        name: name.to_string(),
        direction: "INBOUND".to_string(),
        action: "DROP".to_string(),
        sender_patterns: (0..senders).map(|i| format!("s{i}.example")).collect(),
        destination_patterns: vec!["*".to_string()],
        gateway_id: None,
        hook_endpoint: None,
        hook_synchronous: None,
        hook_fallback_action: None,
        hook_timeout_minutes: None,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn gateway(org: &str, name: &str) -> SmtpGatewayRecord {
    SmtpGatewayRecord {
        gateway_id: format!("gw-{}", carillon_core::ids::new_uuid()),
        organization_id: org.to_string(),
        name: name.to_string(),
        address: "smtp.relay.test".to_string(),
        port: 587,
        username: "relay".to_string(),
        password: "S3cret-relay!".to_string(),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

#[tokio::test]
async fn rules_are_created_read_replaced_and_deleted_per_tenant() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let (other, _) = organization(&t).await;
        let s = &t.store;
        let mut r = rule(&org, "block", 2);
        r.hook_endpoint = Some("https://hook.test/x".to_string());
        r.hook_synchronous = Some(true);
        r.hook_fallback_action = Some("DEFAULT".to_string());
        r.hook_timeout_minutes = Some(5);
        r.action = "RUN_HOOK".to_string();
        assert_eq!(
            s.put_flow_rule(&account, &r, false, 1_000).await.unwrap(),
            FlowRuleWrite::Done,
            "{}",
            t.label
        );
        assert_eq!(
            s.flow_rule(&account, &org, "block").await.unwrap(),
            Some(r.clone())
        );
        assert_eq!(s.flow_rule(&other, &org, "block").await.unwrap(), None);
        assert_eq!(
            s.put_flow_rule(&account, &rule(&org, "block", 1), false, 1_000)
                .await
                .unwrap(),
            FlowRuleWrite::NameTaken
        );
        let mut changed = r.clone();
        changed.action = "BOUNCE".to_string();
        changed.sender_patterns = vec!["a@b.test".to_string()];
        changed.hook_endpoint = None;
        changed.hook_synchronous = None;
        changed.hook_fallback_action = None;
        changed.hook_timeout_minutes = None;
        changed.updated_at = 2_000;
        assert_eq!(
            s.put_flow_rule(&account, &changed, true, 1_000)
                .await
                .unwrap(),
            FlowRuleWrite::Done
        );
        assert_eq!(
            s.flow_rule(&account, &org, "block").await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(
            s.put_flow_rule(&other, &changed, true, 1_000)
                .await
                .unwrap(),
            FlowRuleWrite::NotFound
        );
        assert_eq!(
            s.flow_rules_for_delivery(&org, "INBOUND").await.unwrap(),
            vec![changed.clone()]
        );
        assert!(s
            .flow_rules_for_delivery(&org, "OUTBOUND")
            .await
            .unwrap()
            .is_empty());
        assert!(!s.delete_flow_rule(&other, &org, "block").await.unwrap());
        assert!(s.delete_flow_rule(&account, &org, "block").await.unwrap());
        assert!(s.list_flow_rules(&account, &org).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn organization_sender_patterns_are_limited_replacing_a_rule_counts_once() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let s = &t.store;
        let first = rule(&org, "r1", 6);
        s.put_flow_rule(&account, &first, false, 10).await.unwrap();
        s.put_flow_rule(&account, &rule(&org, "r2", 4), false, 10)
            .await
            .unwrap();
        assert_eq!(
            s.put_flow_rule(&account, &rule(&org, "r3", 1), false, 10)
                .await
                .unwrap(),
            FlowRuleWrite::TooManySenderPatterns(10),
            "{}",
            t.label
        );
        // Replacing r1 by 6 patterns again stays within the limit (its own are not counted).
        assert_eq!(
            s.put_flow_rule(&account, &first, true, 10).await.unwrap(),
            FlowRuleWrite::Done
        );
        assert_eq!(s.list_flow_rules(&account, &org).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn gateways_are_tenant_scoped_and_not_deleted_while_a_rule_uses_them() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let (other, other_org) = organization(&t).await;
        let s = &t.store;
        let gw = gateway(&org, "relay");
        s.create_smtp_gateway(&account, &gw).await.unwrap();
        assert!(matches!(
            s.create_smtp_gateway(&account, &gateway(&org, "relay"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            !format!("{gw:?}").contains("S3cret"),
            "Debug shows no password"
        );
        assert_eq!(
            s.smtp_gateway(&account, &org, &gw.gateway_id)
                .await
                .unwrap(),
            Some(gw.clone())
        );
        assert_eq!(
            s.smtp_gateway(&other, &org, &gw.gateway_id).await.unwrap(),
            None
        );
        let mut changed = gw.clone();
        changed.port = 465;
        changed.updated_at = 2_000;
        s.update_smtp_gateway(&account, &changed, None)
            .await
            .unwrap();
        assert_eq!(
            s.smtp_gateway_for_delivery(&gw.gateway_id).await.unwrap(),
            Some(changed.clone()),
            "no new password keeps the old one"
        );
        s.update_smtp_gateway(&account, &changed, Some("N3w-password!"))
            .await
            .unwrap();
        assert_eq!(
            s.smtp_gateway(&account, &org, &gw.gateway_id)
                .await
                .unwrap()
                .unwrap()
                .password,
            "N3w-password!"
        );

        // A rule of another organization cannot name this gateway.
        let mut foreign = rule(&other_org, "route", 1);
        foreign.action = "ROUTE_TO_GATEWAY".to_string();
        foreign.gateway_id = Some(gw.gateway_id.clone());
        assert_eq!(
            s.put_flow_rule(&other, &foreign, false, 1_000)
                .await
                .unwrap(),
            FlowRuleWrite::NoSuchGateway(gw.gateway_id.clone())
        );
        let mut route = rule(&org, "route", 1);
        route.direction = "OUTBOUND".to_string();
        route.action = "ROUTE_TO_GATEWAY".to_string();
        route.gateway_id = Some(gw.gateway_id.clone());
        s.put_flow_rule(&account, &route, false, 1_000)
            .await
            .unwrap();
        assert_eq!(
            s.delete_smtp_gateway(&account, &org, &gw.gateway_id)
                .await
                .unwrap(),
            Some(vec!["route".to_string()])
        );
        s.delete_flow_rule(&account, &org, "route").await.unwrap();
        assert!(matches!(
            s.delete_smtp_gateway(&other, &org, &gw.gateway_id).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.delete_smtp_gateway(&account, &org, &gw.gateway_id)
                .await
                .unwrap(),
            None
        );
        assert!(s
            .list_smtp_gateways(&account, &org)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn queue_rows_carry_their_gateway() {
    for t in test_stores().await {
        let (_, org) = organization(&t).await;
        let row = |gateway_id: Option<String>| NewOutbound {
            organization_id: org.clone(),
            envelope_from: "a@corp.test".to_string(),
            recipient: "b@far.test".to_string(),
            blob_key: "messages/x".to_string(),
            next_attempt_at: 1,
            expires_at: 10,
            gateway_id,
            message_key: None,
        };
        t.store
            .enqueue_outbound(&[row(Some("gw-1".to_string())), row(None)])
            .await
            .unwrap();
        let gateways: Vec<Option<String>> = t
            .store
            .list_outbound(&org)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.gateway_id)
            .collect();
        assert_eq!(gateways.len(), 2, "{}", t.label);
        assert!(gateways.contains(&Some("gw-1".to_string())));
        assert!(gateways.contains(&None));
    }
}
