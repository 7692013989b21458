-- Mailbox retention policy (carillon-mail): at most one per organization. Spec: workmail.md §2.12.
CREATE TABLE retention_policies (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    policy_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX retention_policies_by_account ON retention_policies (account_id);

-- The policy's folder configurations: model FolderName (INBOX, DELETED_ITEMS, ...), model
-- RetentionAction (NONE, DELETE, PERMANENTLY_DELETE) and the period in days.
CREATE TABLE retention_folder_configurations (
    organization_id TEXT NOT NULL REFERENCES retention_policies (organization_id),
    folder TEXT NOT NULL,
    action TEXT NOT NULL,
    period_days BIGINT,
    PRIMARY KEY (organization_id, folder)
);
