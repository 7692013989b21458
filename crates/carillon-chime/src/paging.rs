//! Paging of list operations: `MaxResults` bounds and opaque, tamper-checked `NextToken`s
//! bound to the operation, the tenant and the filters they were issued for (PRODUCT.md
//! conventions), answered with Chime's `BadRequestException`. The steps are
//! [`carillon_core::pagination`]'s: listings read `limit + 1` rows, keyed by a stable sort
//! key, to know whether a next page exists.

use crate::errors::{bad_request, Result};
use crate::Chime;

/// `MaxResults` as a page size within `1..=max`, `default` when absent.
///
/// Errors: `BadRequestException` naming `MaxResults`.
pub(crate) fn page_size(max_results: Option<i32>, default: i64, max: i64) -> Result<i64> {
    carillon_core::pagination::page_size(max_results, default, max)
        .ok_or_else(|| bad_request(format!("MaxResults must be between 1 and {max}")))
}

impl Chime {
    /// Where a listing resumes: the key `next_token` carries, checked against `scope` (the
    /// operation, tenant and filters it was issued for); `None` for the first page.
    ///
    /// Errors: `BadRequestException` naming `NextToken` for a token not issued for `scope`
    /// or tampered with.
    pub(crate) fn resume_after(
        &self,
        scope: &str,
        next_token: Option<&str>,
    ) -> Result<Option<String>> {
        self.tokens
            .resume_after(scope, next_token)
            .map_err(|invalid| bad_request(invalid.to_string()))
    }

    /// Cuts `rows` (read with `limit + 1`) to `limit` and returns the `NextToken` resuming
    /// after the last kept row's `key` when there was more.
    pub(crate) fn next_page<T>(
        &self,
        scope: &str,
        rows: &mut Vec<T>,
        limit: i64,
        key: impl Fn(&T) -> &str,
    ) -> Option<String> {
        self.tokens
            .next_page(scope, rows, limit, |last| key(last).to_string())
    }
}
