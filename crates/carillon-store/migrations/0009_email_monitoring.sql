-- Email monitoring per organization (PutEmailMonitoringConfiguration, workmail.md §4.1):
-- the log group the email event log goes to; no row means monitoring is off.
CREATE TABLE email_monitoring (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    log_group_arn TEXT NOT NULL,
    role_arn TEXT,
    updated_at BIGINT NOT NULL
);
