//! The Chime system's tables beyond accounts (`crate::chime_accounts`): one module per
//! object family. Tenant-owned rows carry `account_id`, and every query filters on it.
//! The schema shared by these modules is `migrations/0016_chime_core.sql`.
//! Their statements run through `sql` (values bound in order, rows decoded by `FromRow`).

pub mod bots;
pub mod chat;
pub mod phone_numbers;
pub mod porting;
pub mod reports;
pub mod retention;
pub mod sign_in;
mod sql;
pub mod users;
