//! Identity and access: accounts (tenants), principals, access keys, SigV4 verification,
//! policy evaluation with the guides' managed policies, and the audit trail.
