//! The AWS wire protocols: generated shapes and operation tables, request binding and
//! validation from model constraints, error serialization. Knows nothing of mail or chat.

pub mod dispatch;
pub mod generated;
pub mod spec;
pub mod types;
pub mod validate;
