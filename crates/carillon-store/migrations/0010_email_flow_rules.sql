-- Email flow rules and SMTP gateways (carillon-mail). Spec: workmail.md §2.8, §2.9, §2.10.
-- SMTP gateways: where outbound rules with the "Route to SMTP gateway" action send mail.
-- The password is kept for the gateway's AUTH; the API never returns it after creation.
CREATE TABLE smtp_gateways (
    gateway_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);
-- One row per rule. direction: INBOUND / OUTBOUND. action: DROP, BOUNCE, MOVE_TO_JUNK,
-- DEFAULT, BYPASS_SPAM_CHECK, ROUTE_TO_GATEWAY, RUN_HOOK. Patterns are JSON arrays of
-- strings; sender_pattern_count keeps the per-organization limit (1,000) a SUM.
-- gateway_id: the gateway of ROUTE_TO_GATEWAY (or of a RUN_HOOK fallback routing to one).
-- hook_*: RUN_HOOK only (endpoint URL, synchronous 0/1, fallback action, timeout minutes).
CREATE TABLE email_flow_rules (
    rule_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    direction TEXT NOT NULL,
    action TEXT NOT NULL,
    sender_patterns TEXT NOT NULL,
    destination_patterns TEXT NOT NULL,
    sender_pattern_count BIGINT NOT NULL,
    gateway_id TEXT REFERENCES smtp_gateways (gateway_id),
    hook_endpoint TEXT,
    hook_synchronous BIGINT,
    hook_fallback_action TEXT,
    hook_timeout_minutes BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX email_flow_rules_by_org ON email_flow_rules (organization_id, direction);
-- The gateway an outbound queue row is sent through (NULL: direct MX delivery).
ALTER TABLE outbound_queue ADD COLUMN gateway_id TEXT;
