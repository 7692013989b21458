-- Tenants, principals, access keys, policy attachments and the audit trail (carillon-iam).
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- IAM-style users: arn:aws:iam::<account_id>:user/<name>.
CREATE TABLE principals (
    arn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- The secret is kept in clear because SigV4 verification needs it as HMAC key material
-- (a stored hash cannot verify a signature). status is 'Active' or 'Inactive'.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    principal_arn TEXT NOT NULL REFERENCES principals (arn),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_by_account ON access_keys (account_id, principal_arn);

-- Managed policies attached to a principal, by name (the documents are data of carillon-iam).
CREATE TABLE principal_policies (
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    principal_arn TEXT NOT NULL REFERENCES principals (arn),
    policy_name TEXT NOT NULL,
    PRIMARY KEY (principal_arn, policy_name)
);

-- One CloudTrail-shaped record (JSON text) per admin call; event_time in epoch milliseconds.
CREATE TABLE audit_events (
    event_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX audit_events_by_account_time ON audit_events (account_id, event_time, event_id);
