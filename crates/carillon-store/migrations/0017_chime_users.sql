-- Chime users beyond the core schema (carillon-chime): invitations with their single-use
-- registration tokens, claimed domains, and sign-in delegate groups. Spec: chime-zh.md
-- §1.3, §1.4, §1.6, §2.7, §2.12.

-- One registration email: an InviteUsers invitation, or a self sign-up's confirmation
-- (account_id and chime_account_id NULL). The registration link carries a random token;
-- only its SHA-256 (hex) is kept. `user_id` is the identity that registers (created
-- Unregistered for a new address).
CREATE TABLE chime_invitations (
    invite_id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (account_id),
    chime_account_id TEXT REFERENCES chime_accounts (chime_account_id),
    user_id TEXT NOT NULL REFERENCES chime_users (user_id),
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- Model InviteStatus: Pending | Accepted | Failed.
    status TEXT NOT NULL,
    -- Model EmailStatus: NotSent | Sent | Failed.
    email_status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT
);
CREATE INDEX chime_invitations_by_user ON chime_invitations (user_id);
CREATE INDEX chime_invitations_by_account ON chime_invitations (chime_account_id);

-- A domain claimed by a Chime account, verified by a DNS TXT record
-- (`verification_name` = `verification_value`). Status: PendingVerification | Verified.
-- Any number of accounts may have a pending claim; one account at most holds it verified.
CREATE TABLE chime_domains (
    chime_account_id TEXT NOT NULL REFERENCES chime_accounts (chime_account_id),
    domain_name TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    status TEXT NOT NULL,
    verification_name TEXT NOT NULL,
    verification_value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    verified_at BIGINT,
    checked_at BIGINT,
    PRIMARY KEY (chime_account_id, domain_name)
);
CREATE UNIQUE INDEX chime_domains_verified ON chime_domains (domain_name)
    WHERE status = 'Verified';
CREATE INDEX chime_domains_by_status ON chime_domains (status, checked_at);

-- A sign-in delegate group of a Chime account: the name of a directory group (a WorkMail
-- group of the tenant's organizations) and the license its members get (Basic | Pro).
CREATE TABLE chime_signin_delegate_groups (
    chime_account_id TEXT NOT NULL REFERENCES chime_accounts (chime_account_id),
    group_name TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    license TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (chime_account_id, group_name)
);
