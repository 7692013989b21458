//! The generated `impl_<service>_api!` macros: a system implements a service by naming, per
//! operation, the function that implements it; the functions may fail with an error type of
//! their own that converts into `ApiError`, and every operation left out keeps answering
//! `NotImplementedException` naming it.

mod common;

use carillon_awsapi::generated::wickr;
use carillon_awsapi::WickrApi;
use carillon_core::error::codes;
use carillon_core::{ApiError, ApiResult, RequestContext};

/// A system with its own error type, as service crates have.
struct Messaging {
    known_network: &'static str,
}

#[derive(Debug)]
enum MessagingError {
    NoSuchNetwork(String),
}

impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> ApiError {
        match e {
            MessagingError::NoSuchNetwork(id) => {
                ApiError::new("ResourceNotFoundError", format!("No network {id}"))
            }
        }
    }
}

async fn get_user(
    messaging: &Messaging,
    _ctx: &RequestContext,
    input: wickr::GetUserRequest,
) -> Result<wickr::GetUserResponse, MessagingError> {
    if input.network_id != messaging.known_network {
        return Err(MessagingError::NoSuchNetwork(input.network_id));
    }
    Ok(wickr::GetUserResponse {
        user_id: input.user_id,
        first_name: Some("Bob".into()),
        ..Default::default()
    })
}

async fn delete_network(
    _messaging: &Messaging,
    _ctx: &RequestContext,
    _input: wickr::DeleteNetworkRequest,
) -> ApiResult<wickr::DeleteNetworkResponse> {
    Ok(wickr::DeleteNetworkResponse::default())
}

carillon_awsapi::impl_wickr_api!(Messaging {
    GetUser => get_user,
    DeleteNetwork => delete_network,
});

fn messaging() -> Messaging {
    Messaging {
        known_network: "12345678",
    }
}

#[tokio::test]
async fn a_listed_operation_calls_its_function() {
    let user = messaging()
        .get_user(
            &common::ctx(),
            wickr::GetUserRequest {
                network_id: "12345678".into(),
                user_id: "u-1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.user_id, "u-1");
    assert_eq!(user.first_name.as_deref(), Some("Bob"));
    messaging()
        .delete_network(
            &common::ctx(),
            wickr::DeleteNetworkRequest {
                network_id: "12345678".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_function_error_is_answered_as_its_api_error() {
    let err = messaging()
        .get_user(
            &common::ctx(),
            wickr::GetUserRequest {
                network_id: "87654321".into(),
                user_id: "u-1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ApiError::new("ResourceNotFoundError", "No network 87654321")
    );
}

#[tokio::test]
async fn an_operation_left_out_is_not_implemented() {
    let err = messaging()
        .list_networks(&common::ctx(), wickr::ListNetworksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::NOT_IMPLEMENTED);
    assert!(err.message.contains("ListNetworks"), "{}", err.message);
}
