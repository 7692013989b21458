-- Incoming webhooks of chat rooms (carillon-chime webhooks.rs). Spec: chime-zh.md §1.18,
-- §3.3. Bots themselves are `chime_bots` (0016).

-- A room's incoming webhook; also a member of its room (chime_room_memberships row with
-- member_id = webhook_id, member_type 'Webhook'). Its URL is
-- <public_url>/incomingwebhooks/<url_id>?token=<token>: regenerating replaces url_id and the
-- token, so the old URL is unknown (404) rather than merely wrong (403).
CREATE TABLE chime_webhooks (
    webhook_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    chime_account_id TEXT NOT NULL REFERENCES chime_accounts (chime_account_id),
    -- Deleting the room deletes its webhooks.
    room_id TEXT NOT NULL REFERENCES chime_rooms (room_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url_id TEXT NOT NULL UNIQUE,
    -- SHA-256 (hex) of the URL's token; the token itself is shown once.
    token_hash TEXT NOT NULL,
    -- The last accepted post, epoch ms (the 1 request/s limit, shared by every node).
    last_post_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_webhooks_by_room ON chime_webhooks (room_id, webhook_id);
