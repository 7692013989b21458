-- Audit log delivery per organization and log type (workmail.md §4.2, §5.4): where the
-- records of one of the four audit-log types go. No row: that type is not delivered.
-- destination_type is FILE (JSON lines under the data directory) or HTTP (POSTed to endpoint).
CREATE TABLE audit_log_deliveries (
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    log_type TEXT NOT NULL,
    destination_type TEXT NOT NULL,
    endpoint TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, log_type)
);
