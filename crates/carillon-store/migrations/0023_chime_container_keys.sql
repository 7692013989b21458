-- Chat content at rest (carillon-chime chat_crypto.rs): the data key of each room or
-- conversation, wrapped by its tenant's KMS key with the container ID as encryption context.
-- Each message's content is sealed under a key of its own, wrapped by this one. The tenant is
-- fixed when the key is made (the room's, or the conversation creator's then); deleting the
-- row makes the container's messages unreadable for good.
CREATE TABLE chime_container_keys (
    -- The room or conversation ID.
    container_id TEXT PRIMARY KEY,
    -- The tenant whose KMS key wraps it.
    account_id TEXT NOT NULL,
    kms_key_arn TEXT NOT NULL,
    -- Base64 of the provider's wrapping.
    wrapped_key TEXT NOT NULL,
    -- Epoch milliseconds.
    created_at BIGINT NOT NULL
);
CREATE INDEX chime_container_keys_by_account ON chime_container_keys (account_id);
