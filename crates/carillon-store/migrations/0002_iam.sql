-- Tenants, principals, access keys, policy attachments and the audit trail (carillon-iam).
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE principals (
    arn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    principal_arn TEXT NOT NULL REFERENCES principals (arn),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE principal_policies (
    principal_arn TEXT NOT NULL REFERENCES principals (arn),
    policy_name TEXT NOT NULL,
    PRIMARY KEY (principal_arn, policy_name)
);

CREATE TABLE audit_events (
    event_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX audit_events_by_account_time ON audit_events (account_id, event_time);
