//! Input binding and output serialization of both protocols through implemented
//! operations: awsJson1.1 bodies; restJson1 path labels, query parameters, headers, JSON
//! bodies, 204 answers and blob payloads.

mod common;

use async_trait::async_trait;
use bytes::Bytes;
use carillon_awsapi::generated::{chime, wickr, workmail, workmailmessageflow};
use carillon_awsapi::types::{Blob, Iso8601Timestamp, Unit};
use carillon_awsapi::{invoke, resolve, Invocation, ServiceId, Services};
use carillon_core::{ApiResult, RequestContext};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Records the inputs it receives (as JSON) and answers fixed outputs.
#[derive(Default)]
struct Recorder {
    inputs: Mutex<Vec<Value>>,
}

impl Recorder {
    fn record<T: serde::Serialize>(&self, input: &T) {
        self.inputs
            .lock()
            .unwrap()
            .push(serde_json::to_value(input).unwrap());
    }

    fn last(&self) -> Value {
        self.inputs.lock().unwrap().last().cloned().unwrap()
    }
}

#[async_trait]
impl workmail::WorkMailApi for Recorder {
    async fn create_organization(
        &self,
        ctx: &RequestContext,
        input: workmail::CreateOrganizationRequest,
    ) -> ApiResult<workmail::CreateOrganizationResponse> {
        assert_eq!(ctx.account_id, "123456789012");
        self.record(&input);
        Ok(workmail::CreateOrganizationResponse {
            organization_id: Some("m-0123456789abcdef0123456789abcdef".into()),
        })
    }
}

#[async_trait]
impl chime::ChimeApi for Recorder {
    async fn get_user(
        &self,
        _ctx: &RequestContext,
        input: chime::GetUserRequest,
    ) -> ApiResult<chime::GetUserResponse> {
        self.record(&input);
        Ok(chime::GetUserResponse {
            user: Some(chime::User {
                user_id: input.user_id,
                account_id: Some(input.account_id),
                display_name: Some("Alice".into()),
                registered_on: Some(Iso8601Timestamp(
                    Utc.with_ymd_and_hms(2024, 1, 31, 12, 0, 0).unwrap(),
                )),
                ..Default::default()
            }),
        })
    }

    async fn list_users(
        &self,
        _ctx: &RequestContext,
        input: chime::ListUsersRequest,
    ) -> ApiResult<chime::ListUsersResponse> {
        self.record(&input);
        Ok(chime::ListUsersResponse::default())
    }

    async fn delete_room(
        &self,
        _ctx: &RequestContext,
        input: chime::DeleteRoomRequest,
    ) -> ApiResult<Unit> {
        self.record(&input);
        Ok(Unit {})
    }
}

#[async_trait]
impl wickr::WickrApi for Recorder {
    async fn batch_create_user(
        &self,
        _ctx: &RequestContext,
        input: wickr::BatchCreateUserRequest,
    ) -> ApiResult<wickr::BatchCreateUserResponse> {
        self.record(&input);
        Ok(wickr::BatchCreateUserResponse::default())
    }

    async fn get_user(
        &self,
        _ctx: &RequestContext,
        input: wickr::GetUserRequest,
    ) -> ApiResult<wickr::GetUserResponse> {
        self.record(&input);
        Ok(wickr::GetUserResponse {
            user_id: input.user_id,
            first_name: Some("Bob".into()),
            ..Default::default()
        })
    }
}

#[async_trait]
impl workmailmessageflow::WorkMailMessageFlowApi for Recorder {
    async fn get_raw_message_content(
        &self,
        _ctx: &RequestContext,
        input: workmailmessageflow::GetRawMessageContentRequest,
    ) -> ApiResult<workmailmessageflow::GetRawMessageContentResponse> {
        self.record(&input);
        Ok(workmailmessageflow::GetRawMessageContentResponse {
            message_content: Blob(b"Subject: hi\r\n\r\nbody\r\n".to_vec()),
        })
    }

    async fn put_raw_message_content(
        &self,
        _ctx: &RequestContext,
        input: workmailmessageflow::PutRawMessageContentRequest,
    ) -> ApiResult<workmailmessageflow::PutRawMessageContentResponse> {
        self.record(&input);
        Ok(workmailmessageflow::PutRawMessageContentResponse {})
    }
}

fn services(recorder: &Arc<Recorder>) -> Services {
    Services {
        workmail: recorder.clone(),
        chime: recorder.clone(),
        wickr: recorder.clone(),
        messageflow: recorder.clone(),
    }
}

async fn send(
    recorder: &Arc<Recorder>,
    service: ServiceId,
    request: http::Request<Bytes>,
) -> Invocation {
    let (parts, body) = request.into_parts();
    let op = resolve(service, &parts).expect("routed");
    invoke(&services(recorder), &op, &common::ctx(), &parts, body).await
}

#[tokio::test]
async fn aws_json_binds_body_and_answers_json_1_1() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::post("/")
        .header("X-Amz-Target", "WorkMailService.CreateOrganization")
        .body(Bytes::from(r#"{"Alias":"acme","Unknown":1}"#))
        .unwrap();
    let inv = send(&recorder, ServiceId::WorkMail, request).await;
    assert_eq!(inv.response.status(), 200);
    assert_eq!(
        inv.response.headers()["content-type"],
        "application/x-amz-json-1.1"
    );
    assert_eq!(inv.response.headers()["x-amzn-RequestId"], "req-1");
    assert_eq!(
        common::body_json(&inv.response),
        json!({"OrganizationId": "m-0123456789abcdef0123456789abcdef"})
    );
    assert_eq!(recorder.last(), json!({"Alias": "acme"}));
    assert_eq!(inv.request_parameters, json!({"Alias": "acme"}));
    assert_eq!(
        inv.response_elements,
        Some(json!({"OrganizationId": "m-0123456789abcdef0123456789abcdef"}))
    );
    assert!(inv.error.is_none());
}

#[tokio::test]
async fn rest_json_binds_path_labels_and_serializes_body() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::get("/accounts/acct%201/users/u-1")
        .body(Bytes::new())
        .unwrap();
    let inv = send(&recorder, ServiceId::Chime, request).await;
    assert_eq!(inv.response.status(), 200);
    assert_eq!(
        recorder.last(),
        json!({"AccountId": "acct 1", "UserId": "u-1"})
    );
    assert_eq!(inv.response.headers()["content-type"], "application/json");
    let body = common::body_json(&inv.response);
    assert_eq!(body["User"]["UserId"], "u-1");
    assert_eq!(body["User"]["AccountId"], "acct 1");
    // Chime's Iso8601Timestamp shape serializes as an ISO 8601 string.
    assert_eq!(body["User"]["RegisteredOn"], "2024-01-31T12:00:00Z");
    // DisplayName is a sensitive shape: shown to the caller, hidden from the audit record.
    assert_eq!(body["User"]["DisplayName"], "Alice");
    assert_eq!(
        inv.response_elements.unwrap()["User"]["DisplayName"],
        "HIDDEN_DUE_TO_SECURITY_REASONS"
    );
}

#[tokio::test]
async fn rest_json_binds_query_parameters_with_types() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::get(
        "/accounts/acct/users?max-results=25&user-type=PrivateUser&user-email=a%40example.com",
    )
    .body(Bytes::new())
    .unwrap();
    let inv = send(&recorder, ServiceId::Chime, request).await;
    assert_eq!(inv.response.status(), 200, "{:?}", inv.response.body());
    assert_eq!(
        recorder.last(),
        json!({
            "AccountId": "acct",
            "MaxResults": 25,
            "UserType": "PrivateUser",
            "UserEmail": "a@example.com"
        })
    );
    // EmailAddress is sensitive in the Chime model.
    assert_eq!(
        inv.request_parameters["UserEmail"],
        "HIDDEN_DUE_TO_SECURITY_REASONS"
    );
}

#[tokio::test]
async fn rest_json_literal_query_selects_the_operation() {
    let with = http::Request::post("/accounts/acct/users?operation=create")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let without = http::Request::get("/accounts/acct/users")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert_eq!(
        resolve(ServiceId::Chime, &with).unwrap().name(),
        "CreateUser"
    );
    assert_eq!(
        resolve(ServiceId::Chime, &without).unwrap().name(),
        "ListUsers"
    );
}

#[tokio::test]
async fn rest_json_no_content_answer_has_no_body() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::delete("/accounts/acct/rooms/room-1")
        .body(Bytes::new())
        .unwrap();
    let inv = send(&recorder, ServiceId::Chime, request).await;
    assert_eq!(inv.response.status(), 204);
    assert!(inv.response.body().is_empty());
    assert_eq!(
        recorder.last(),
        json!({"AccountId": "acct", "RoomId": "room-1"})
    );
}

#[tokio::test]
async fn rest_json_binds_headers_and_body_members() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::post("/networks/12345678/users")
        .header("X-Client-Token", "token-1")
        .body(Bytes::from(
            r#"{"users":[{"username":"bob","securityGroupIds":["sg1"]}],"networkId":"ignored"}"#,
        ))
        .unwrap();
    let inv = send(&recorder, ServiceId::Wickr, request).await;
    assert_eq!(inv.response.status(), 200, "{:?}", inv.response.body());
    assert_eq!(
        recorder.last(),
        json!({
            "clientToken": "token-1",
            "networkId": "12345678",
            "users": [{"username": "bob", "securityGroupIds": ["sg1"]}]
        })
    );
}

#[tokio::test]
async fn rest_json_binds_epoch_second_query_timestamps() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::get("/networks/12345678/users/u1?startTime=1700000000")
        .body(Bytes::new())
        .unwrap();
    let inv = send(&recorder, ServiceId::Wickr, request).await;
    assert_eq!(inv.response.status(), 200, "{:?}", inv.response.body());
    assert_eq!(recorder.last()["startTime"], json!(1_700_000_000));
    assert_eq!(
        common::body_json(&inv.response),
        json!({"userId": "u1", "firstName": "Bob"})
    );
}

#[tokio::test]
async fn rest_json_blob_payload_is_the_raw_body() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::get("/messages/abc-123")
        .body(Bytes::new())
        .unwrap();
    let inv = send(&recorder, ServiceId::WorkMailMessageFlow, request).await;
    assert_eq!(inv.response.status(), 200);
    assert_eq!(inv.response.body().as_ref(), b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(
        inv.response.headers()["content-type"],
        "application/octet-stream"
    );
}

#[tokio::test]
async fn rest_json_structure_body_member() {
    let recorder = Arc::new(Recorder::default());
    let request = http::Request::post("/messages/abc-123")
        .body(Bytes::from(
            r#"{"content":{"s3Reference":{"bucket":"bucket","key":"k"}}}"#,
        ))
        .unwrap();
    let inv = send(&recorder, ServiceId::WorkMailMessageFlow, request).await;
    assert_eq!(inv.response.status(), 200, "{:?}", inv.response.body());
    assert_eq!(
        recorder.last(),
        json!({"messageId": "abc-123", "content": {"s3Reference": {"bucket": "bucket", "key": "k"}}})
    );
    assert_eq!(common::body_json(&inv.response), json!({}));
}
