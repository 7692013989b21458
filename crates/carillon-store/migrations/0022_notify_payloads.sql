-- Change notification across nodes (carillon-store notify.rs): payloads too large for a
-- PostgreSQL NOTIFY (8,000 bytes) are kept here, and the notification carries the row's ID.
-- Unused on SQLite (one node). Rows are deleted a few minutes after they are written.
CREATE TABLE notify_payloads (
    -- UUID.
    id TEXT PRIMARY KEY,
    -- Epoch milliseconds.
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX notify_payloads_created ON notify_payloads (created_at);
