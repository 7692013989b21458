//! Error serialization in both protocols and routing of unknown operations.

mod common;

use carillon_awsapi::{error_response, resolve, ServiceId};
use carillon_core::error::codes;
use carillon_core::ApiError;
use serde_json::json;

#[test]
fn aws_json_error_shape() {
    let err = ApiError::new("EntityNotFoundException", "The user alice was not found.");
    let response = error_response(ServiceId::WorkMail, &err, "rid-1");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-amz-json-1.1"
    );
    assert_eq!(
        response.headers()["x-amzn-ErrorType"],
        "EntityNotFoundException"
    );
    assert_eq!(response.headers()["x-amzn-RequestId"], "rid-1");
    assert_eq!(
        common::body_json(&response),
        json!({"__type": "EntityNotFoundException", "message": "The user alice was not found."})
    );
}

#[test]
fn rest_json_error_shape_uses_the_modelled_status() {
    let err = ApiError::new("NotFoundException", "No such user.");
    let response = error_response(ServiceId::Chime, &err, "rid-2");
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-amzn-ErrorType"], "NotFoundException");
    assert_eq!(response.headers()["x-amzn-RequestId"], "rid-2");
    assert_eq!(
        common::body_json(&response),
        json!({"Code": "NotFoundException", "Message": "No such user.", "message": "No such user."})
    );
    let throttled = ApiError::new("ThrottledClientException", "slow down");
    assert_eq!(
        error_response(ServiceId::Chime, &throttled, "r").status(),
        429
    );
    let wickr = ApiError::new("ResourceNotFoundError", "no network");
    assert_eq!(error_response(ServiceId::Wickr, &wickr, "r").status(), 404);
    let fault = ApiError::new("InternalServerError", "boom");
    assert_eq!(error_response(ServiceId::Wickr, &fault, "r").status(), 500);
    let flow = ApiError::new("ResourceNotFoundException", "no message");
    assert_eq!(
        error_response(ServiceId::WorkMailMessageFlow, &flow, "r").status(),
        404
    );
}

#[test]
fn common_codes_have_their_statuses() {
    let cases = [
        (codes::NOT_IMPLEMENTED, 501),
        (codes::ACCESS_DENIED, 403),
        (codes::UNRECOGNIZED_CLIENT, 403),
        (codes::INVALID_SIGNATURE, 403),
        (codes::MISSING_AUTHENTICATION_TOKEN, 403),
        (codes::INTERNAL_FAILURE, 500),
        (codes::SERIALIZATION, 400),
        (codes::REQUEST_EXPIRED, 400),
        ("SomeClientError", 400),
    ];
    for service in ServiceId::ALL {
        for (code, status) in cases {
            let response = error_response(service, &ApiError::new(code, "m"), "r");
            assert_eq!(response.status(), status, "{service:?} {code}");
        }
    }
    let unknown = ApiError::new(codes::UNKNOWN_OPERATION, "m");
    assert_eq!(
        error_response(ServiceId::WorkMail, &unknown, "r").status(),
        400
    );
    assert_eq!(
        error_response(ServiceId::Chime, &unknown, "r").status(),
        404
    );
}

#[test]
fn unknown_operations_are_refused() {
    let parts = |req: http::request::Builder| req.body(()).unwrap().into_parts().0;
    let bad_target =
        parts(http::Request::post("/").header("X-Amz-Target", "WorkMailService.NoSuchOperation"));
    let err = resolve(ServiceId::WorkMail, &bad_target).unwrap_err();
    assert_eq!(err.code, codes::UNKNOWN_OPERATION);
    let other_prefix = parts(http::Request::post("/").header("X-Amz-Target", "Other.CreateUser"));
    assert!(resolve(ServiceId::WorkMail, &other_prefix).is_err());
    let no_target = parts(http::Request::post("/"));
    assert!(resolve(ServiceId::WorkMail, &no_target).is_err());
    let wrong_method =
        parts(http::Request::get("/").header("X-Amz-Target", "WorkMailService.CreateUser"));
    assert!(resolve(ServiceId::WorkMail, &wrong_method).is_err());

    let err = resolve(ServiceId::Chime, &parts(http::Request::get("/nowhere"))).unwrap_err();
    assert_eq!(err.code, codes::UNKNOWN_OPERATION);
    assert!(resolve(
        ServiceId::Chime,
        &parts(http::Request::put("/accounts/a/users/u"))
    )
    .is_err());
}

#[test]
fn services_by_signing_name() {
    for service in ServiceId::ALL {
        assert_eq!(
            ServiceId::from_signing_name(service.signing_name()),
            Some(service)
        );
        assert_eq!(service.action_prefix(), service.signing_name());
    }
    assert_eq!(
        ServiceId::from_signing_name("wickr"),
        Some(ServiceId::Wickr)
    );
    assert_eq!(ServiceId::from_signing_name("s3"), None);
}
