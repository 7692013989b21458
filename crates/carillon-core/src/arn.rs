//! Amazon Resource Names in the originals' shapes.
//!
//! `arn:<partition>:<service>:<region>:<account>:<resource>`; the partition is always `aws`
//! and the region is Carillon's configured region (default `us-east-1`).

use std::fmt;

/// The partition of every ARN Carillon issues.
pub const PARTITION: &str = "aws";

/// A parsed or built ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// Service namespace, e.g. `workmail`, `iam`.
    pub service: String,
    /// Region, empty for global services (IAM).
    pub region: String,
    /// 12-digit account ID, empty for AWS-managed resources.
    pub account: String,
    /// Resource part, e.g. `organization/m-0123…`.
    pub resource: String,
}

impl Arn {
    /// Builds an ARN in partition `aws`.
    pub fn new(service: &str, region: &str, account: &str, resource: impl Into<String>) -> Self {
        Arn {
            service: service.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.into(),
        }
    }

    /// Parses `arn:partition:service:region:account:resource`; `None` when it has fewer than
    /// six colon-separated parts or does not start with `arn:`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let _partition = parts.next()?;
        Some(Arn {
            service: parts.next()?.to_string(),
            region: parts.next()?.to_string(),
            account: parts.next()?.to_string(),
            resource: parts.next()?.to_string(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{PARTITION}:{}:{}:{}:{}",
            self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let arn = Arn::new(
            "workmail",
            "us-east-1",
            "123456789012",
            "organization/m-abc",
        );
        let text = arn.to_string();
        assert_eq!(
            text,
            "arn:aws:workmail:us-east-1:123456789012:organization/m-abc"
        );
        assert_eq!(Arn::parse(&text), Some(arn));
        assert_eq!(Arn::parse("nope:aws:x"), None);
    }
}
