//! What the bot and webhook tests share: a tenant with its admin's request context, and
//! registered users written straight to `chime_users` (the users operations have tests of
//! their own).

use carillon_core::RequestContext;
use carillon_store::testing::{create_account, TestStore};

/// A new tenant and a request context of its admin.
pub async fn tenant(test: &TestStore) -> RequestContext {
    let account_id = create_account(&test.store).await;
    RequestContext {
        principal_arn: format!("arn:aws:iam::{account_id}:user/admin"),
        account_id,
        access_key_id: "AKIATEST".to_string(),
        region: "us-east-1".to_string(),
        request_id: carillon_core::ids::new_uuid(),
        source_ip: "127.0.0.1".to_string(),
    }
}

/// A registered Pro user `email` (also its display name) of the tenant's Chime account;
/// returns the user ID.
pub async fn insert_user(
    test: &TestStore,
    ctx: &RequestContext,
    chime_account_id: &str,
    email: &str,
) -> String {
    let user_id = carillon_core::ids::new_uuid();
    test.exec(
        "INSERT INTO chime_users (user_id, account_id, chime_account_id, primary_email, \
         display_name, license_type, registration_status, personal_pin, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $4, 'Pro', 'Registered', '0123456789', 0, 0)",
        &[&user_id, &ctx.account_id, chime_account_id, email],
    )
    .await;
    user_id
}
