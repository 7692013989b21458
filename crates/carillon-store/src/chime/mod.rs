//! The Chime system's tables: one module per object family (`accounts`, `users`, `chat`,
//! `bots`, `phone_numbers`, `porting`, `retention`, `reports`, `sign_in`). Tenant-owned rows carry `account_id`, and every query filters on it.
//! The schema shared by these modules is `migrations/0016_chime_core.sql`.
//! Their statements run through the crate's `sql` module (values bound in order, rows decoded by `FromRow`).

pub mod accounts;
pub mod bots;
pub mod chat;
pub mod phone_numbers;
pub mod porting;
pub mod reports;
pub mod retention;
pub mod sign_in;
pub mod users;
