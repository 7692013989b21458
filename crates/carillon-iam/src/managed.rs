//! The AWS managed policies the guides name, as data (`policies/*.json`).
//!
//! Each document is Carillon's own JSON, written to grant the actions the guides list:
//! `AdministratorAccess` (`*` on `*`, the bootstrap and account administrators);
//! `AmazonWorkMailFullAccess` and `AmazonWorkMailReadOnlyAccess` (workmail.md §5.1–5.2: the
//! read-only policy is `workmail:Describe*`, `Get*`, `List*`, `Search*` plus the console's
//! `ses:Describe*`/`Get*`, `lambda:ListFunctions`, `iam:ListRoles`, `logs:DescribeLogGroups`,
//! `cloudwatch:GetMetricData` and the log-delivery describes); `AmazonChimeFullAccess`,
//! `AmazonChimeReadOnly` and `AmazonChimeUserManagement` (chime-zh.md §5.2, the user
//! management list verbatim); `AWSWickrFullAccess` (wickr.md §2.16: `wickr:*` on `*`).
//! Statements conditioned on keys Carillon does not supply (`aws:CalledViaLast`,
//! `iam:AWSServiceName`, `iam:PassedToService`) are kept for fidelity and never apply
//! (conditions fail closed, see [`crate::policy`]).

use std::sync::LazyLock;

use crate::policy::PolicyDocument;

/// Names of the managed policies, in the order they are listed to users.
pub const MANAGED_POLICY_NAMES: [&str; 7] = [
    "AdministratorAccess",
    "AmazonWorkMailFullAccess",
    "AmazonWorkMailReadOnlyAccess",
    "AmazonChimeFullAccess",
    "AmazonChimeReadOnly",
    "AmazonChimeUserManagement",
    "AWSWickrFullAccess",
];

/// The policy granting everything, attached to every account's administrator.
pub const ADMINISTRATOR_ACCESS: &str = "AdministratorAccess";

const SOURCES: [&str; 7] = [
    include_str!("../policies/AdministratorAccess.json"),
    include_str!("../policies/AmazonWorkMailFullAccess.json"),
    include_str!("../policies/AmazonWorkMailReadOnlyAccess.json"),
    include_str!("../policies/AmazonChimeFullAccess.json"),
    include_str!("../policies/AmazonChimeReadOnly.json"),
    include_str!("../policies/AmazonChimeUserManagement.json"),
    include_str!("../policies/AWSWickrFullAccess.json"),
];

static PARSED: LazyLock<Vec<PolicyDocument>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .zip(MANAGED_POLICY_NAMES)
        .map(|(source, name)| {
            // The files are checked in and parsed by a unit test, so this cannot fail at run
            // time unless the build itself is broken.
            PolicyDocument::parse(source)
                .unwrap_or_else(|e| panic!("managed policy {name} is invalid: {e}"))
        })
        .collect()
});

/// The managed policy called `name` (exact, case-sensitive as in IAM), if it exists.
pub fn managed_policy(name: &str) -> Option<&'static PolicyDocument> {
    MANAGED_POLICY_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| &PARSED[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{evaluate, ConditionContext, Decision};

    fn decide(policy: &str, action: &str) -> Decision {
        evaluate(
            [managed_policy(policy).unwrap()],
            action,
            "*",
            &ConditionContext::new(),
        )
    }

    #[test]
    fn every_managed_policy_parses() {
        for name in MANAGED_POLICY_NAMES {
            let policy = managed_policy(name).unwrap();
            assert!(!policy.statements.is_empty(), "{name}");
        }
        assert!(managed_policy("amazonworkmailfullaccess").is_none());
        assert!(managed_policy("PowerUserAccess").is_none());
    }

    #[test]
    fn managed_policies_grant_what_the_guides_say() {
        use Decision::*;
        assert_eq!(decide("AdministratorAccess", "workmail:CreateUser"), Allow);
        assert_eq!(decide("AdministratorAccess", "wickr:CreateNetwork"), Allow);
        assert_eq!(
            decide("AmazonWorkMailFullAccess", "workmail:DeleteOrganization"),
            Allow
        );
        assert_eq!(
            decide("AmazonWorkMailFullAccess", "chime:CreateAccount"),
            ImplicitDeny
        );
        // Conditioned on a key Carillon does not supply: never granted.
        assert_eq!(
            decide("AmazonWorkMailFullAccess", "iam:CreateServiceLinkedRole"),
            ImplicitDeny
        );
        let read_only = "AmazonWorkMailReadOnlyAccess";
        for action in [
            "workmail:ListUsers",
            "workmail:DescribeOrganization",
            "workmail:GetMailboxDetails",
            "workmail:SearchUsers",
            "ses:GetIdentityVerificationAttributes",
            "logs:DescribeDeliveries",
        ] {
            assert_eq!(decide(read_only, action), Allow, "{action}");
        }
        for action in [
            "workmail:CreateUser",
            "workmail:DeleteUser",
            "workmail:ResetPassword",
        ] {
            assert_eq!(decide(read_only, action), ImplicitDeny, "{action}");
        }
        assert_eq!(decide("AmazonChimeReadOnly", "chime:ListAccounts"), Allow);
        assert_eq!(
            decide("AmazonChimeReadOnly", "chime:SearchAvailablePhoneNumbers"),
            Allow
        );
        assert_eq!(
            decide("AmazonChimeReadOnly", "chime:CreateAccount"),
            ImplicitDeny
        );
        assert_eq!(
            decide("AmazonChimeFullAccess", "chime:DeleteAccount"),
            Allow
        );
        assert_eq!(
            decide("AmazonChimeUserManagement", "chime:InviteUsers"),
            Allow
        );
        assert_eq!(
            decide("AmazonChimeUserManagement", "chime:CreateUser"),
            Allow
        );
        assert_eq!(
            decide("AmazonChimeUserManagement", "chime:DeleteAccount"),
            ImplicitDeny
        );
        assert_eq!(decide("AWSWickrFullAccess", "wickr:ListNetworks"), Allow);
        assert_eq!(
            decide("AWSWickrFullAccess", "workmail:ListUsers"),
            ImplicitDeny
        );
    }
}
