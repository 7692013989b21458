//! Issue 3 "Done when": the OpenAPI document of Carillon's admin API lists every WorkMail
//! operation Carillon adds beyond the model, each with its IAM action, request and response
//! schemas and errors.

use carillon_mail::directory::{register_carillon_operations, WorkMail};
use carillon_store::testing::TestStore;

/// Every Carillon operation of the WorkMail system (issue 3), with its HTTP method.
const OPERATIONS: [(&str, &str); 24] = [
    ("PutJournalingConfiguration", "put"),
    ("GetJournalingConfiguration", "get"),
    ("DeleteJournalingConfiguration", "delete"),
    ("CreateKey", "post"),
    ("ListKeys", "get"),
    ("DescribeKey", "get"),
    ("PutAuditLogDelivery", "put"),
    ("ListAuditLogDeliveries", "get"),
    ("DeleteAuditLogDelivery", "delete"),
    ("RotateDkimKeys", "post"),
    ("ListDkimKeys", "get"),
    ("GetFlowHookSecret", "get"),
    ("RotateFlowHookSecret", "post"),
    ("CreateEmailFlowRule", "post"),
    ("UpdateEmailFlowRule", "put"),
    ("DeleteEmailFlowRule", "delete"),
    ("GetEmailFlowRule", "get"),
    ("ListEmailFlowRules", "get"),
    ("TestEmailFlowRules", "post"),
    ("CreateSmtpGateway", "post"),
    ("GetSmtpGateway", "get"),
    ("ListSmtpGateways", "get"),
    ("UpdateSmtpGateway", "put"),
    ("DeleteSmtpGateway", "delete"),
];

#[tokio::test]
async fn the_openapi_document_lists_every_workmail_carillon_operation() {
    let test = TestStore::sqlite().await;
    let wm = WorkMail::new(
        test.store.clone(),
        "us-east-1".into(),
        "mail.carillon.test".into(),
        "carillon.test".into(),
        Some("127.0.0.1:53".parse().unwrap()),
    )
    .await
    .unwrap();
    let mut registry = carillon_adminapi::Registry::new();
    register_carillon_operations(&mut registry, &wm);
    let doc = carillon_adminapi::openapi::document(&registry);
    let mut listed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/carillon/v1/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            let name = op["operationId"].as_str().unwrap().to_string();
            let action = op["x-carillon-iam-action"].as_str().unwrap();
            assert!(
                action.ends_with(&format!(":{name}")),
                "{name}: IAM action {action}"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}"
            );
            assert!(
                op["responses"]["200"]["content"]["application/json"]["schema"].is_object(),
                "{name}: response schema"
            );
            assert!(op["responses"]["400"].is_object(), "{name}: errors");
            listed.push((name, method.clone()));
        }
    }
    listed.sort();
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(n, m)| (n.to_string(), m.to_string()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
}
