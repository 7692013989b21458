//! Model-constraint violations answer the service's validation error naming the member;
//! malformed or mistyped JSON answers `SerializationException`; sensitive values are never
//! echoed and are hidden from the audit parameters.

mod common;

use bytes::Bytes;
use carillon_awsapi::{invoke, resolve, Invocation, ServiceId, Services};
use serde_json::{json, Value};

const ORG: &str = "m-0123456789abcdef0123456789abcdef";

async fn call(service: ServiceId, operation: &str, input: Value) -> Invocation {
    let model = common::model(service);
    let (parts, body) = common::request(service, &model, operation, &input);
    call_raw(service, parts, body).await
}

async fn call_raw(service: ServiceId, parts: http::request::Parts, body: Bytes) -> Invocation {
    let op = resolve(service, &parts).expect("routed");
    invoke(
        &Services::not_implemented(),
        &op,
        &common::ctx(),
        &parts,
        body,
    )
    .await
}

/// Asserts a 400-class validation answer with exactly `message`.
fn assert_invalid(inv: &Invocation, code: &str, status: u16, message: &str) {
    assert_eq!(inv.response.status(), status, "{:?}", inv.response.body());
    let err = inv.error.as_ref().expect("an error");
    assert_eq!(err.code, code);
    assert_eq!(err.message, message);
}

#[tokio::test]
async fn workmail_required_member_missing() {
    let inv = call(
        ServiceId::WorkMail,
        "CreateUser",
        json!({"Name": "alice", "DisplayName": "Alice"}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        "1 validation error detected: Value null at 'organizationId' failed to satisfy \
         constraint: Member must not be null",
    );
    let body = common::body_json(&inv.response);
    assert_eq!(body["__type"], "InvalidParameterException");
    // The audit parameters show what was sent (DisplayName is a sensitive shape).
    assert_eq!(
        inv.request_parameters,
        json!({"Name": "alice", "DisplayName": "HIDDEN_DUE_TO_SECURITY_REASONS"})
    );
}

#[tokio::test]
async fn workmail_null_required_member_is_a_validation_error() {
    let inv = call(
        ServiceId::WorkMail,
        "DescribeOrganization",
        json!({"OrganizationId": null}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        "1 validation error detected: Value null at 'organizationId' failed to satisfy \
         constraint: Member must not be null",
    );
}

#[tokio::test]
async fn workmail_pattern_violation() {
    let bad = "m-0123456789ABCDEF0123456789ABCDEF";
    let inv = call(
        ServiceId::WorkMail,
        "DescribeOrganization",
        json!({"OrganizationId": bad}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        &format!(
            "1 validation error detected: Value '{bad}' at 'organizationId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^m-[0-9a-f]{{32}}$"
        ),
    );
}

#[tokio::test]
async fn workmail_too_long_and_enum_reported_together() {
    let long = "a".repeat(65);
    let inv = call(
        ServiceId::WorkMail,
        "CreateUser",
        json!({"OrganizationId": ORG, "Name": long, "DisplayName": "Alice", "Role": "ADMIN"}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        &format!(
            "2 validation errors detected: Value '{long}' at 'name' failed to satisfy \
             constraint: Member must have length less than or equal to 64; Value 'ADMIN' at \
             'role' failed to satisfy constraint: Member must satisfy enum value set: [USER, \
             RESOURCE, SYSTEM_USER, REMOTE_USER]"
        ),
    );
}

#[tokio::test]
async fn workmail_range_violation() {
    let inv = call(
        ServiceId::WorkMail,
        "UpdateMailboxQuota",
        json!({"OrganizationId": ORG, "UserId": "alice", "MailboxQuota": 0}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        "1 validation error detected: Value '0' at 'mailboxQuota' failed to satisfy \
         constraint: Member must have value greater than or equal to 1",
    );
}

#[tokio::test]
async fn nested_list_members_are_named_by_path() {
    let arn = format!("arn:aws:workmail:us-east-1:123456789012:organization/{ORG}");
    let inv = call(
        ServiceId::WorkMail,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "a", "Value": "b"}, {"Value": "c"}]}),
    )
    .await;
    assert_invalid(
        &inv,
        "InvalidParameterException",
        400,
        "1 validation error detected: Value null at 'tags.2.member.key' failed to satisfy \
         constraint: Member must not be null",
    );
}

#[tokio::test]
async fn sensitive_values_are_redacted_everywhere() {
    let password = "p".repeat(300);
    let inv = call(
        ServiceId::WorkMail,
        "CreateUser",
        json!({"OrganizationId": ORG, "Name": "alice", "DisplayName": "Alice", "Password": password}),
    )
    .await;
    let err = inv.error.as_ref().unwrap();
    assert_eq!(err.code, "InvalidParameterException");
    assert!(err.message.contains("at 'password'"), "{}", err.message);
    assert!(!err.message.contains(&password));
    assert!(!String::from_utf8_lossy(inv.response.body()).contains(&password));
    assert_eq!(
        inv.request_parameters["Password"],
        "HIDDEN_DUE_TO_SECURITY_REASONS"
    );
    assert_eq!(inv.request_parameters["Name"], "alice");
    assert_eq!(inv.request_parameters["OrganizationId"], ORG);
}

#[tokio::test]
async fn malformed_json_is_a_serialization_error() {
    let model = common::model(ServiceId::WorkMail);
    let (parts, _) = common::request(ServiceId::WorkMail, &model, "CreateUser", &json!({}));
    let inv = call_raw(
        ServiceId::WorkMail,
        parts,
        Bytes::from_static(b"{\"Name\": "),
    )
    .await;
    assert_eq!(inv.response.status(), 400);
    assert_eq!(inv.error.as_ref().unwrap().code, "SerializationException");
    assert_eq!(
        common::body_json(&inv.response)["__type"],
        "SerializationException"
    );
    assert_eq!(inv.request_parameters, Value::Null);
}

#[tokio::test]
async fn wrong_member_type_names_the_member() {
    let inv = call(
        ServiceId::WorkMail,
        "CreateUser",
        json!({"OrganizationId": ORG, "Name": 42, "DisplayName": "Alice"}),
    )
    .await;
    assert_eq!(inv.response.status(), 400);
    let err = inv.error.unwrap();
    assert_eq!(err.code, "SerializationException");
    assert!(err.message.contains("'Name'"), "{}", err.message);
}

#[tokio::test]
async fn rest_json_malformed_body_is_a_serialization_error() {
    let (parts, ()) = http::Request::post("/accounts/acct/users?operation=create")
        .body(())
        .unwrap()
        .into_parts();
    let inv = call_raw(ServiceId::Chime, parts, Bytes::from_static(b"[1,")).await;
    assert_eq!(inv.response.status(), 400);
    let body = common::body_json(&inv.response);
    assert_eq!(body["Code"], "SerializationException");
    assert_eq!(inv.response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn chime_query_range_violation_is_bad_request() {
    let (parts, ()) = http::Request::get("/accounts/acct/users?max-results=0")
        .body(())
        .unwrap()
        .into_parts();
    let inv = call_raw(ServiceId::Chime, parts, Bytes::new()).await;
    assert_invalid(
        &inv,
        "BadRequestException",
        400,
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy \
         constraint: Member must have value greater than or equal to 1",
    );
    assert_eq!(
        common::body_json(&inv.response)["Code"],
        "BadRequestException"
    );
}

#[tokio::test]
async fn chime_query_type_error_is_a_serialization_error() {
    let (parts, ()) = http::Request::get("/accounts/acct/users?max-results=many")
        .body(())
        .unwrap()
        .into_parts();
    let inv = call_raw(ServiceId::Chime, parts, Bytes::new()).await;
    assert_eq!(inv.response.status(), 400);
    let err = inv.error.unwrap();
    assert_eq!(err.code, "SerializationException");
    assert!(err.message.contains("'max-results'"), "{}", err.message);
}

#[tokio::test]
async fn wickr_validation_error_is_422() {
    let inv = call(
        ServiceId::Wickr,
        "GetUser",
        json!({"networkId": "1234", "userId": "u1"}),
    )
    .await;
    let err = inv.error.as_ref().unwrap();
    assert_eq!(err.code, "ValidationError");
    assert_eq!(inv.response.status(), 422);
    assert!(err.message.contains("at 'networkId'"), "{}", err.message);
}

#[tokio::test]
async fn messageflow_uses_the_common_validation_exception() {
    let inv = call(
        ServiceId::WorkMailMessageFlow,
        "PutRawMessageContent",
        json!({"messageId": "m1", "content": {"s3Reference": {"bucket": "bucket"}}}),
    )
    .await;
    assert_invalid(
        &inv,
        "ValidationException",
        400,
        "1 validation error detected: Value null at 'content.s3Reference.key' failed to \
         satisfy constraint: Member must not be null",
    );
}

/// Every pattern of every model compiles, so no constraint is silently skipped.
#[test]
fn every_model_pattern_compiles() {
    let mut n = 0;
    for service in ServiceId::ALL {
        let model = common::model(service);
        for (name, shape) in model["shapes"].as_object().unwrap() {
            if let Some(p) = shape["pattern"].as_str() {
                fancy_regex::Regex::new(p).unwrap_or_else(|e| panic!("{name}: {p}: {e}"));
                n += 1;
            }
        }
    }
    assert!(n > 70, "{n}");
}
