-- Mailbox export jobs (carillon-mail). Spec: workmail.md §2.22, §4.8.
-- state: PENDING (waiting for a runner), RUNNING, COMPLETED, FAILED, CANCELLED; the API shows
-- PENDING as RUNNING (the model's MailboxExportJobState has no pending state).
-- entity_id carries no foreign key: the job stays describable after its user is deleted.
-- A runner holds a RUNNING job through lease_holder/lease_expires_at, like the outbound queue.
CREATE TABLE mailbox_export_jobs (
    job_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    entity_id TEXT NOT NULL,
    description TEXT,
    role_arn TEXT NOT NULL,
    kms_key_arn TEXT NOT NULL,
    s3_bucket_name TEXT NOT NULL,
    s3_prefix TEXT NOT NULL,
    s3_path TEXT NOT NULL,
    client_token TEXT NOT NULL,
    state TEXT NOT NULL,
    estimated_progress BIGINT NOT NULL DEFAULT 0,
    error_info TEXT,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    lease_holder TEXT,
    lease_expires_at BIGINT,
    UNIQUE (organization_id, client_token)
);
CREATE INDEX mailbox_export_jobs_by_org ON mailbox_export_jobs (organization_id, start_time);
CREATE INDEX mailbox_export_jobs_by_state ON mailbox_export_jobs (state);
