//! The engine end to end over a real store and IAM layer: routing, binding, validation
//! messages, the error style, authentication (SigV4 service `carillon`, only the OpenAPI
//! document unauthenticated), authorization with the managed policies, the audit record,
//! and the OpenAPI document.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use bytes::Bytes;
use carillon_adminapi::{CarillonOperation, Engine, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiError, ApiResult, RequestContext};
use carillon_iam::sigv4::{sign_request, SigningCredentials};
use carillon_iam::{AccessKey, Iam};
use carillon_store::testing::TestStore;
use http::{Method, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const REGION: &str = "us-east-1";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutWidgetInput {
    /// Organization the widget belongs to.
    organization_id: String,
    /// Widget name.
    #[schemars(length(min = 1, max = 8), pattern(r"^[a-z]+$"))]
    name: String,
    /// Where widget reports go.
    #[schemars(email)]
    owner_email: String,
    /// How many.
    #[schemars(range(min = 1, max = 10))]
    count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
struct PutWidgetOutput {
    /// The stored widget's key.
    key: String,
}

/// Records the calls it receives; answers `ResourceNotFoundException` for name `missing`.
#[derive(Default)]
struct PutWidget {
    calls: std::sync::Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait::async_trait]
impl CarillonOperation for PutWidget {
    type Input = PutWidgetInput;
    type Output = PutWidgetOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "PutWidget",
            method: Method::PUT,
            path: "/carillon/v1/organizations/{OrganizationId}/widgets",
            action: "carillon:PutWidget",
            resource: "arn:aws:workmail:{region}:{account}:organization/{OrganizationId}",
            summary: "Stores a widget.",
            docs: "Test operation.",
            errors: &[ErrorSpec {
                code: "ResourceNotFoundException",
                status: 404,
                doc: "No such widget.",
            }],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PutWidgetInput,
    ) -> ApiResult<PutWidgetOutput> {
        if input.name == "missing" {
            return Err(ApiError::new("ResourceNotFoundException", "Widget missing"));
        }
        self.calls
            .lock()
            .unwrap()
            .push((ctx.account_id.clone(), input.owner_email.clone()));
        Ok(PutWidgetOutput {
            key: format!(
                "{}/{}/{}",
                input.organization_id,
                input.name,
                input.count.unwrap_or(1)
            ),
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetWidgetInput {
    organization_id: String,
}

/// A read operation under a `workmail:` action (a WorkMail console feature).
struct GetWidget;

#[async_trait::async_trait]
impl CarillonOperation for GetWidget {
    type Input = GetWidgetInput;
    type Output = PutWidgetOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "GetWidget",
            method: Method::GET,
            path: "/carillon/v1/organizations/{OrganizationId}/widgets",
            action: "workmail:GetWidget",
            resource: "arn:aws:workmail:{region}:{account}:organization/{OrganizationId}",
            summary: "Reads a widget.",
            docs: "Test operation.",
            errors: &[],
        }
    }

    async fn call(
        &self,
        _ctx: &RequestContext,
        input: GetWidgetInput,
    ) -> ApiResult<PutWidgetOutput> {
        Ok(PutWidgetOutput {
            key: input.organization_id,
        })
    }
}

struct Fixture {
    _store: TestStore,
    iam: Iam,
    engine: Engine,
    admin: AccessKey,
    calls: std::sync::Arc<Mutex<Vec<(String, String)>>>,
}

async fn fixture() -> Fixture {
    let store = TestStore::sqlite().await;
    let iam = Iam::new(store.store.clone(), REGION);
    let (_, admin) = iam.create_account("engine-test").await.unwrap();
    let put = PutWidget::default();
    let calls = put.calls.clone();
    let mut registry = Registry::new();
    registry.register(put).register(GetWidget);
    let engine = Engine::new(iam.clone(), REGION, registry);
    Fixture {
        _store: store,
        iam,
        engine,
        admin,
        calls,
    }
}

fn request(method: Method, path: &str, body: &str) -> (http::request::Parts, Bytes) {
    let (parts, ()) = Request::builder()
        .method(method)
        .uri(format!("http://localhost:8080{path}"))
        .header("content-type", "application/json")
        .header("user-agent", "engine-test")
        .body(())
        .unwrap()
        .into_parts();
    (parts, Bytes::from(body.to_string()))
}

fn signed(
    key: &AccessKey,
    service: &str,
    method: Method,
    path: &str,
    body: &str,
) -> (http::request::Parts, Bytes) {
    let (mut parts, body) = request(method, path, body);
    sign_request(
        &mut parts,
        &body,
        SigningCredentials {
            access_key_id: &key.access_key_id,
            secret_access_key: &key.secret_access_key,
        },
        REGION,
        service,
        chrono::Utc::now(),
    )
    .unwrap();
    (parts, body)
}

async fn send(engine: &Engine, (parts, body): (http::request::Parts, Bytes)) -> Response<Bytes> {
    engine
        .handle(parts, body, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
}

fn json_of(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn error_type(response: &Response<Bytes>) -> &str {
    response
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

const PATH: &str = "/carillon/v1/organizations/m-0123/widgets";

#[tokio::test]
async fn routes_binds_labels_and_body_and_answers_json() {
    let f = fixture().await;
    let body = r#"{"Name": "abc", "OwnerEmail": "owner@example.com", "Count": 2}"#;
    let response = send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, body),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(json_of(&response), json!({"Key": "m-0123/abc/2"}));
    assert!(response.headers().contains_key("x-amzn-RequestId"));
    assert_eq!(
        f.calls.lock().unwrap().as_slice(),
        [(f.admin.account_id.clone(), "owner@example.com".to_string())]
    );
    let response = send(
        &f.engine,
        signed(&f.admin, "carillon", Method::GET, PATH, ""),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(&response), json!({"Key": "m-0123"}));
}

#[tokio::test]
async fn unknown_routes_answer_unknown_operation_in_the_rest_json_style() {
    let f = fixture().await;
    for (method, path) in [
        (Method::POST, PATH),
        (Method::PUT, "/carillon/v1/organizations/m-0123/gadgets"),
        (Method::GET, "/carillon/v1/organizations//widgets"),
    ] {
        let response = send(&f.engine, signed(&f.admin, "carillon", method, path, "")).await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_type(&response), "UnknownOperationException");
        let body = json_of(&response);
        assert_eq!(body["Code"], "UnknownOperationException");
        assert!(body["Message"].as_str().unwrap().contains("/carillon/v1/"));
        assert!(response.headers().contains_key("x-amzn-RequestId"));
    }
}

#[tokio::test]
async fn validation_messages_name_each_member() {
    let f = fixture().await;
    let body = r#"{"Name": "ABCDEFGHIJ", "OwnerEmail": "nobody", "Count": 0, "Colour": "red"}"#;
    let response = send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, body),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_type(&response), "ValidationException");
    let message = json_of(&response)["Message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("5 validation errors detected: "),
        "{message}"
    );
    for expected in [
        "Value 'ABCDEFGHIJ' at 'Name' failed to satisfy constraint: Member must have length less than or equal to 8",
        "at 'Name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z]+$",
        "Value 'nobody' at 'OwnerEmail' failed to satisfy constraint: Member must satisfy email address format",
        "Value '0' at 'Count' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value at 'Colour' failed to satisfy constraint: Member is not a member of the input",
    ] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
    let response = send(
        &f.engine,
        signed(
            &f.admin,
            "carillon",
            Method::PUT,
            PATH,
            r#"{"Name": "abc"}"#,
        ),
    )
    .await;
    assert_eq!(
        json_of(&response)["Message"],
        "1 validation error detected: Value at 'OwnerEmail' failed to satisfy constraint: Member must not be null"
    );
    let response = send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, "[]"),
    )
    .await;
    assert_eq!(error_type(&response), "SerializationException");
    assert!(
        f.calls.lock().unwrap().is_empty(),
        "nothing invalid reaches the operation"
    );
}

#[tokio::test]
async fn operation_errors_take_their_declared_status() {
    let f = fixture().await;
    let body = r#"{"Name": "missing", "OwnerEmail": "owner@example.com"}"#;
    let response = send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, body),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_type(&response), "ResourceNotFoundException");
    assert_eq!(json_of(&response)["Message"], "Widget missing");
}

#[tokio::test]
async fn only_the_openapi_document_is_served_unauthenticated() {
    let f = fixture().await;
    let response = send(
        &f.engine,
        request(Method::GET, "/carillon/v1/openapi.json", ""),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(&response)["openapi"], "3.0.3");
    for (method, path) in [
        (Method::GET, PATH),
        (Method::PUT, PATH),
        (Method::GET, "/carillon/v1/nothing"),
        (Method::POST, "/carillon/v1/openapi.json"),
    ] {
        let response = send(&f.engine, request(method, path, "{}")).await;
        assert_eq!(response.status(), 403);
        assert_eq!(error_type(&response), "MissingAuthenticationTokenException");
    }
    assert!(f.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_credential_scope_must_name_service_carillon() {
    let f = fixture().await;
    let body = r#"{"Name": "abc", "OwnerEmail": "owner@example.com"}"#;
    let response = send(
        &f.engine,
        signed(&f.admin, "workmail", Method::PUT, PATH, body),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_type(&response), "InvalidSignatureException");
    assert!(json_of(&response)["Message"]
        .as_str()
        .unwrap()
        .contains("'carillon'"));
    let mut tampered = signed(&f.admin, "carillon", Method::PUT, PATH, body);
    tampered.1 = Bytes::from(body.replace("abc", "xyz"));
    let response = send(&f.engine, tampered).await;
    assert_eq!(error_type(&response), "InvalidSignatureException");
    assert!(f.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn policies_decide_with_the_declared_action_and_resource() {
    let f = fixture().await;
    let read_only = f
        .iam
        .create_access_key(Some(&f.admin.account_id), "AmazonWorkMailReadOnlyAccess")
        .await
        .unwrap();
    // workmail:GetWidget matches the policy's workmail:Get*.
    let response = send(
        &f.engine,
        signed(&read_only, "carillon", Method::GET, PATH, ""),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = r#"{"Name": "abc", "OwnerEmail": "owner@example.com"}"#;
    let response = send(
        &f.engine,
        signed(&read_only, "carillon", Method::PUT, PATH, body),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_type(&response), "AccessDeniedException");
    let message = json_of(&response)["Message"].as_str().unwrap().to_string();
    assert!(message.contains("carillon:PutWidget"), "{message}");
    assert!(
        message.contains(&format!(
            "arn:aws:workmail:{REGION}:{}:organization/m-0123",
            f.admin.account_id
        )),
        "{message}"
    );
    assert!(f.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn every_call_leaves_one_audit_record() {
    let f = fixture().await;
    let body = r#"{"Name": "abc", "OwnerEmail": "owner@example.com"}"#;
    send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, body),
    )
    .await;
    send(
        &f.engine,
        signed(&f.admin, "carillon", Method::PUT, PATH, r#"{"Name": "x"}"#),
    )
    .await;
    let records = f
        .iam
        .list_audit_records(&f.admin.account_id, None, 10)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    let ok = records.iter().find(|r| r.error_code.is_none()).unwrap();
    assert_eq!(ok.event_source, "carillon.amazonaws.com");
    assert_eq!(ok.event_name, "PutWidget");
    assert_eq!(ok.request_parameters["OrganizationId"], "m-0123");
    assert_eq!(ok.response_elements, Some(json!({"Key": "m-0123/abc/1"})));
    let failed = records.iter().find(|r| r.error_code.is_some()).unwrap();
    assert_eq!(failed.error_code.as_deref(), Some("ValidationException"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_operation_with_its_schemas() {
    let f = fixture().await;
    let doc: Value = serde_json::from_slice(f.engine.openapi_document()).unwrap();
    let listed: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|methods| methods.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let mut registered = vec!["GetWidget", "PutWidget"];
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    registered.sort();
    assert_eq!(
        listed_sorted, registered,
        "every registered operation, once"
    );
    let path = &doc["paths"]["/carillon/v1/organizations/{OrganizationId}/widgets"];
    let put = &path["put"];
    assert_eq!(put["operationId"], "PutWidget");
    assert_eq!(put["x-carillon-iam-action"], "carillon:PutWidget");
    assert_eq!(put["parameters"][0]["name"], "OrganizationId");
    assert_eq!(put["parameters"][0]["in"], "path");
    let body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let body = &doc["components"]["schemas"][body_ref.rsplit('/').next().unwrap()];
    assert!(
        body["properties"].get("OrganizationId").is_none(),
        "labels travel in the path"
    );
    assert_eq!(body["properties"]["Name"]["maxLength"], 8);
    assert_eq!(body["properties"]["OwnerEmail"]["format"], "email");
    assert_eq!(body["properties"]["Name"]["description"], "Widget name.");
    assert_eq!(body["required"], json!(["Name", "OwnerEmail"]));
    assert!(put["responses"]["200"]["content"]["application/json"]["schema"].is_object());
    assert!(put["responses"]["404"]["description"]
        .as_str()
        .unwrap()
        .contains("ResourceNotFoundException"));
    assert!(put["responses"]["403"]["description"]
        .as_str()
        .unwrap()
        .contains("AccessDeniedException"));
    assert_eq!(path["get"]["operationId"], "GetWidget");
    assert!(path["get"].get("requestBody").is_none());
    assert_eq!(
        doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"],
        "awsSigv4"
    );
}

#[test]
#[should_panic(expected = "ambiguous")]
fn ambiguous_routes_are_refused_at_registration() {
    struct Clash;
    #[async_trait::async_trait]
    impl CarillonOperation for Clash {
        type Input = GetWidgetInput;
        type Output = PutWidgetOutput;
        fn spec(&self) -> OperationSpec {
            OperationSpec {
                name: "GetClash",
                method: Method::GET,
                path: "/carillon/v1/organizations/{OrganizationId}/widgets",
                action: "carillon:GetClash",
                resource: "*",
                summary: "",
                docs: "",
                errors: &[],
            }
        }
        async fn call(&self, _: &RequestContext, _: GetWidgetInput) -> ApiResult<PutWidgetOutput> {
            Err(ApiError::not_implemented("GetClash"))
        }
    }
    Registry::new().register(GetWidget).register(Clash);
}

#[test]
#[should_panic(expected = "path label OrganizationId must be a required string member")]
fn labels_must_be_input_members() {
    #[derive(Deserialize, JsonSchema)]
    struct Empty {}
    struct Unbound;
    #[async_trait::async_trait]
    impl CarillonOperation for Unbound {
        type Input = Empty;
        type Output = PutWidgetOutput;
        fn spec(&self) -> OperationSpec {
            OperationSpec {
                name: "Unbound",
                method: Method::GET,
                path: "/carillon/v1/organizations/{OrganizationId}",
                action: "carillon:Unbound",
                resource: "*",
                summary: "",
                docs: "",
                errors: &[],
            }
        }
        async fn call(&self, _: &RequestContext, _: Empty) -> ApiResult<PutWidgetOutput> {
            Err(ApiError::not_implemented("Unbound"))
        }
    }
    Registry::new().register(Unbound);
}
