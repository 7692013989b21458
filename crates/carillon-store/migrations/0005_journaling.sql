-- Journaling (carillon-mail): one configuration per organization. Spec: workmail.md §2.24.
-- Every message sent to or by a user of the organization gets one journal record addressed
-- to journaling_address; records that cannot be journaled are reported to report_address.
CREATE TABLE journaling_configurations (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    journaling_address TEXT NOT NULL,
    report_address TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX journaling_configurations_by_account ON journaling_configurations (account_id);
