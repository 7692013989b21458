-- Chime administrator accounts (carillon-chime). Spec: chime-zh.md §1.2, §2.4.
-- Each belongs to one Carillon account (the tenant). A deleted Chime account stays as a
-- disabled (`Suspended`) row for 90 days with `deleted_at` set, then is removed for good.
CREATE TABLE chime_accounts (
    chime_account_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    account_type TEXT NOT NULL,
    account_status TEXT NOT NULL,
    default_license TEXT NOT NULL,
    -- AccountSettings: 0/1 booleans.
    disable_remote_control BIGINT NOT NULL DEFAULT 0,
    enable_dial_out BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX chime_accounts_by_account ON chime_accounts (account_id, chime_account_id);
