//! Email flow: organization-level inbound and outbound flow rules and their evaluation
//! ([`rules`], workmail.md §2.9), the SMTP gateways outbound rules route to (§2.8).
//!
//! Rules are read from the store for every message, so new, changed and removed rules take
//! effect at once (§2.9: "New rules take effect immediately, and so do removals").

pub mod hooks;
pub mod rules;
pub mod transit;
