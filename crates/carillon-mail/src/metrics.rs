//! The nine WorkMail metrics (namespace `AWS/WorkMail`, unit Count), recorded through the
//! `metrics` facade so the binary picks the exporter (Prometheus text on `GET /metrics`).
//!
//! Each guide name maps to a Prometheus name under the `workmail_` prefix, with the guide
//! name in the HELP text and the organization ID as label `organization_id`:
//! per-event counts are counters (`…_total`); the 0/1 ratios (`AuthenticationFailure`,
//! `AccessDenied`, `ActionDenied`) are summaries whose `_sum` is the guide's Sum (failures or
//! denials) and `_count` its SampleCount (attempts or evaluations).
//!
//! Spec: workmail.md §4.3.

use ::metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// Label carrying the WorkMail organization ID (`m-…`).
pub const ORGANIZATION_LABEL: &str = "organization_id";

/// Label value when the organization is unknown (a login naming no user).
pub const UNKNOWN_ORGANIZATION: &str = "unknown";

/// `OrganizationEmailReceived`: 1 per message received by an organization.
pub const ORGANIZATION_EMAIL_RECEIVED: &str = "workmail_organization_email_received_total";
/// `MailboxEmailDelivered`: 1 per mailbox delivered to.
pub const MAILBOX_EMAIL_DELIVERED: &str = "workmail_mailbox_email_delivered_total";
/// `IncomingEmailBounced`: 1 per refused inbound recipient (unknown, full, DMARC reject).
pub const INCOMING_EMAIL_BOUNCED: &str = "workmail_incoming_email_bounced_total";
/// `OutgoingEmailBounced`: 1 per outbound recipient given up on.
pub const OUTGOING_EMAIL_BOUNCED: &str = "workmail_outgoing_email_bounced_total";
/// `OutgoingEmailSent`: 1 per outbound recipient a remote server accepted.
pub const OUTGOING_EMAIL_SENT: &str = "workmail_outgoing_email_sent_total";
/// `AuthenticationFailure`: one sample per SMTP AUTH / IMAP LOGIN attempt, 1 failed, 0 ok.
pub const AUTHENTICATION_FAILURE: &str = "workmail_authentication_failure";
/// `AccessDenied`: one sample per access-control evaluation, 1 denied, 0 granted.
pub const ACCESS_DENIED: &str = "workmail_access_denied";
/// `ActionDenied`: one sample per mailbox-data action, 1 denied, 0 granted.
pub const ACTION_DENIED: &str = "workmail_action_denied";
/// `AvailabilityProviderFailure`: 1 per failed availability provider request.
pub const AVAILABILITY_PROVIDER_FAILURE: &str = "workmail_availability_provider_failure_total";

/// Describes all nine metrics (HELP text with the guide name) on the installed recorder and
/// registers the three Carillon never records yet — `AccessDenied`, `ActionDenied`,
/// `AvailabilityProviderFailure` (no access control rules nor availability providers exist)
/// — without labels, so `/metrics` lists every guide metric from the start. Call once after
/// installing the recorder.
pub fn describe() {
    for (name, help) in [
        (ORGANIZATION_EMAIL_RECEIVED, "AWS/WorkMail OrganizationEmailReceived: messages received by the organization (1 per message)"),
        (MAILBOX_EMAIL_DELIVERED, "AWS/WorkMail MailboxEmailDelivered: messages delivered (1 per mailbox)"),
        (INCOMING_EMAIL_BOUNCED, "AWS/WorkMail IncomingEmailBounced: inbound recipients refused (1 per recipient)"),
        (OUTGOING_EMAIL_BOUNCED, "AWS/WorkMail OutgoingEmailBounced: outbound recipients bounced (1 per recipient)"),
        (OUTGOING_EMAIL_SENT, "AWS/WorkMail OutgoingEmailSent: outbound recipients delivered (1 per recipient)"),
        (AVAILABILITY_PROVIDER_FAILURE, "AWS/WorkMail AvailabilityProviderFailure: failed availability provider requests"),
    ] {
        describe_counter!(name, Unit::Count, help);
    }
    for (name, help) in [
        (AUTHENTICATION_FAILURE, "AWS/WorkMail AuthenticationFailure: 1 per failed, 0 per successful SMTP AUTH or IMAP LOGIN (sum = failures, count = attempts)"),
        (ACCESS_DENIED, "AWS/WorkMail AccessDenied: 1 per denied, 0 per granted access control evaluation"),
        (ACTION_DENIED, "AWS/WorkMail ActionDenied: 1 per denied, 0 per granted mailbox-data action"),
    ] {
        describe_histogram!(name, Unit::Count, help);
    }
    counter!(AVAILABILITY_PROVIDER_FAILURE).absolute(0);
    let _registered = (histogram!(ACCESS_DENIED), histogram!(ACTION_DENIED));
}

/// Adds `count` to the counter `name` of `organization_id`.
pub fn count(name: &'static str, organization_id: &str, count: u64) {
    counter!(name, ORGANIZATION_LABEL => organization_id.to_string()).increment(count);
}

/// Records one `AuthenticationFailure` sample: 1 when the attempt failed, 0 when it succeeded.
/// `organization_id` is [`UNKNOWN_ORGANIZATION`] when the login names no user.
pub fn authentication_attempt(organization_id: &str, failed: bool) {
    histogram!(AUTHENTICATION_FAILURE, ORGANIZATION_LABEL => organization_id.to_string())
        .record(if failed { 1.0 } else { 0.0 });
}
