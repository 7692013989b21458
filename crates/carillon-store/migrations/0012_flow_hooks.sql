-- Flow-rule hooks (the original's Run Lambda) and the message-flow API (carillon-mail).
-- Spec: workmail.md §2.10, §4.5, §4.10.
--
-- flow_transit_messages: one row per hook invocation of one message (one SMTP conversation
-- and one organization): the in-transit copy GetRawMessageContent reads and
-- PutRawMessageContent replaces (blob_key), for 24 hours after created_at.
-- direction: INBOUND | OUTBOUND (the ARN context incoming | outgoing).
-- synchronous: 1 when delivery waits for the hook's answer, 0 for an asynchronous hook.
-- message_key: the content's message key wrapped by the organization's transit key (encryption
-- at rest, workmail.md §5.3); NULL for a plaintext blob.
-- recipients: JSON array of the envelope recipients the hook decides for.
-- submitter: JSON of the sending user (outbound), NULL inbound.
-- hook: JSON of the rule's hook (rule name, endpoint, fallback action, timeout).
-- state: PENDING (hook not answered yet; content replaceable), DELIVERING (answer or fallback
-- decided, delivery under way), ASYNC (asynchronous hook not yet invoked), DONE.
-- invocation_id: 32 hex digits, the same across retries (§4.5).
-- deadline_at: created_at + the rule timeout; after it the fallback action applies.
-- actions: JSON of the per-recipient final actions once decided (state DELIVERING), so a
-- delivery interrupted by a crash resumes with the same decision.
-- A worker holds a due row through lease_holder/lease_expires_at, like the outbound queue.
CREATE TABLE flow_transit_messages (
    message_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    direction TEXT NOT NULL,
    synchronous BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    message_key TEXT,
    mail_from TEXT NOT NULL,
    recipients TEXT NOT NULL,
    submitter TEXT,
    hook TEXT NOT NULL,
    state TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    actions TEXT,
    lease_holder TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX flow_transit_messages_due ON flow_transit_messages (state, next_attempt_at);
CREATE INDEX flow_transit_messages_by_created ON flow_transit_messages (created_at);

-- The per-organization secret hook requests are signed with (HMAC-SHA256), 64 hex digits.
CREATE TABLE flow_hook_secrets (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    secret TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Buckets of the minimal S3 endpoint (objects under buckets/<bucket>/ in the blob store):
-- a bucket belongs to the account that created it or first wrote to it.
CREATE TABLE s3_buckets (
    bucket TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    created_at BIGINT NOT NULL
);
