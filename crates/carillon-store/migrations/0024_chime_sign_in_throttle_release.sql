-- Failed chat sign-ins per email, shared by every node (chime-zh.md §1.10 sign-in; the
-- throttle is Carillon's). The key is the hex SHA-256 of the lower-cased email, so the
-- table does not collect the addresses people typed. A window opens at its first failure
-- and lasts 15 minutes; a successful sign-in deletes the row.
CREATE TABLE chime_sign_in_failures (
    email_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);
CREATE INDEX chime_sign_in_failures_by_window ON chime_sign_in_failures (window_start);

-- When a domain removal released the user (chime-ko.md §2.0.4: users are deleted from the
-- account 90 days later). Users released before this column existed count from their last
-- change, which was the release (a released user cannot be changed).
ALTER TABLE chime_users ADD COLUMN released_at BIGINT;
UPDATE chime_users SET released_at = updated_at WHERE registration_status = 'Released';
CREATE INDEX chime_users_by_released_at ON chime_users (released_at);
