-- Chat retention settings and usage reports (carillon-chime). Spec: chime-zh.md §1.9, §2.6,
-- §2.17; chime-ko.md §2.0.1, §3.1.

-- An Enterprise account's chat retention (PutRetentionSettings). A NULL period is
-- retention off. `updated_at` is when the settings were last put. No foreign key to
-- chime_accounts: a deleted account's row is purged after 90 days and the job skips it.
CREATE TABLE chime_retention_settings (
    chime_account_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    -- RetentionDays, 1-5475.
    room_retention_days BIGINT,
    conversation_retention_days BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_messages_hidden ON chime_messages (hidden_at);

-- Weekly usage reporting of a Carillon account (Global settings > Usage reporting): one
-- bucket of Carillon's S3 endpoint for the reports of all its Chime accounts.
CREATE TABLE chime_usage_reporting (
    account_id TEXT PRIMARY KEY REFERENCES accounts (account_id),
    bucket TEXT NOT NULL,
    -- When reporting was turned on; the first week reported starts on the next Sunday.
    enabled_at BIGINT NOT NULL
);

-- The weekly reports written, so the job writes each past week once.
CREATE TABLE chime_usage_reports (
    chime_account_id TEXT NOT NULL,
    -- The Sunday 00:00 UTC starting the week, epoch milliseconds.
    week_start BIGINT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    bucket TEXT NOT NULL,
    object_key TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    PRIMARY KEY (chime_account_id, week_start)
);

-- A user's latest chat sign-in (the report's last_login), kept when sessions end.
CREATE TABLE chime_user_sign_ins (
    user_id TEXT PRIMARY KEY,
    last_sign_in_at BIGINT NOT NULL
);

-- A user's personal contacts (at most 100, chime-ko.md §2.0.7), for the contacts export.
CREATE TABLE chime_contacts (
    user_id TEXT NOT NULL REFERENCES chime_users (user_id),
    contact_user_id TEXT NOT NULL REFERENCES chime_users (user_id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, contact_user_id)
);
