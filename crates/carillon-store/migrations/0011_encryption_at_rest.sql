-- Encryption at rest (carillon-mail `crypto`, carillon-kms). Spec: workmail.md §5.3.
-- Every message blob is sealed under its own 256-bit message key; that key is stored here
-- only wrapped: per mailbox copy by the mailbox key, per queued delivery by the
-- organization's transit key. Mailbox and transit keys are 256-bit AES keys wrapped by the
-- organization's key-encryption key (organizations.kms_key_arn, a Carillon key ARN) with the
-- organization ARN as encryption context. Key material itself is never in the database.
--
-- kind 'mailbox': owner_id is the mailbox's user ID; kind 'transit': owner_id is the
-- organization ID (for messages outside any mailbox: the outbound queue, in-transit
-- messages). wrapped_key is base64.
CREATE TABLE encryption_keys (
    owner_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    kms_key_arn TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX encryption_keys_by_organization ON encryption_keys (organization_id);

-- The copy's message key wrapped by its mailbox key (base64); NULL for a blob stored in
-- plaintext before encryption at rest existed (read as is).
ALTER TABLE messages ADD COLUMN message_key TEXT;

-- The row's message key wrapped by its organization's transit key (base64); NULL as above.
ALTER TABLE outbound_queue ADD COLUMN message_key TEXT;
