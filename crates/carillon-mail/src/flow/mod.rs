//! Email flow: organization-level inbound and outbound flow rules and their evaluation
//! ([`rules`], workmail.md §2.9), the SMTP gateways outbound rules route to (§2.8), and the
//! Run hook action (§2.10): the hook event and client ([`hooks`]), messages held for a hook
//! (`held`, below delivery: the decision stage holds through it) and the hook worker that
//! delivers them once answered ([`transit`], above delivery: it re-enters the pipeline).
//!
//! Rules are read from the store for every message, so new, changed and removed rules take
//! effect at once (§2.9: "New rules take effect immediately, and so do removals").

pub(crate) mod held;
pub mod hooks;
pub mod rules;
pub mod transit;
