-- Mailbox contents (carillon-mail) and the outbound queue (carillon-smtp).
-- A WorkMail *mailbox* is a user's whole store; its *folders* are IMAP mailboxes (RFC 3501).
CREATE TABLE mailboxes (
    user_id TEXT PRIMARY KEY REFERENCES entities (entity_id),
    organization_id TEXT NOT NULL,
    size_bytes BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE folders (
    folder_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES mailboxes (user_id),
    name TEXT NOT NULL,
    special_use TEXT,
    uid_validity BIGINT NOT NULL,
    uid_next BIGINT NOT NULL,
    highest_modseq BIGINT NOT NULL,
    -- Messages from this UID up are \Recent (RFC 3501 §2.3.2): no read-write session saw them.
    first_recent_uid BIGINT NOT NULL DEFAULT 1,
    subscribed BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

-- One row per message copy in a folder; the raw message is an immutable blob that several
-- copies (recipients, COPY) may share.
CREATE TABLE messages (
    folder_id TEXT NOT NULL REFERENCES folders (folder_id),
    uid BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    internal_date BIGINT NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    modseq BIGINT NOT NULL,
    PRIMARY KEY (folder_id, uid)
);
CREATE INDEX messages_by_blob ON messages (blob_key);

CREATE TABLE outbound_queue (
    queue_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    recipient TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_error TEXT,
    lease_holder TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt_at);
