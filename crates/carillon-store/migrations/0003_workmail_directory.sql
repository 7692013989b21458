-- WorkMail organizations and their directories (carillon-mail). Spec: workmail.md §1.
CREATE TABLE organizations (
    organization_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    -- Globally unique among live organizations; NULL once the organization is deleted.
    alias TEXT UNIQUE,
    deleted_alias TEXT,
    state TEXT NOT NULL,
    directory_id TEXT NOT NULL,
    directory_type TEXT NOT NULL,
    default_mail_domain TEXT,
    kms_key_arn TEXT,
    interoperability_enabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    deleted_at BIGINT,
    -- CreateOrganization's ClientToken: a retried request returns the organization it made.
    client_token TEXT,
    UNIQUE (account_id, client_token)
);
CREATE INDEX organizations_by_account ON organizations (account_id, created_at);

-- A domain belongs to at most one organization, so inbound mail routes by domain alone.
CREATE TABLE mail_domains (
    domain_name TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    is_test_domain BIGINT NOT NULL DEFAULT 0,
    ownership_token TEXT NOT NULL,
    dkim_selectors TEXT NOT NULL DEFAULT '',
    ownership_verification_status TEXT NOT NULL,
    dkim_verification_status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_domains_by_org ON mail_domains (organization_id);

-- Users, groups and resources. Names are unique per organization and kind.
CREATE TABLE entities (
    entity_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    first_name TEXT,
    last_name TEXT,
    state TEXT NOT NULL,
    role TEXT,
    password_hash TEXT,
    hidden_from_gal BIGINT NOT NULL DEFAULT 0,
    mailbox_quota_mb BIGINT,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    enabled_at BIGINT,
    disabled_at BIGINT,
    -- A deleted entity's name moves here (and `name` takes its entity ID) so the name is free.
    deleted_name TEXT,
    UNIQUE (organization_id, kind, name)
);
CREATE INDEX entities_by_org ON entities (organization_id, kind, name);

-- Every email address in use (primary addresses and aliases), lower-cased, globally unique.
CREATE TABLE addresses (
    address TEXT PRIMARY KEY,
    domain_name TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
    entity_id TEXT NOT NULL REFERENCES entities (entity_id),
    is_primary BIGINT NOT NULL
);
CREATE INDEX addresses_by_entity ON addresses (entity_id);
CREATE INDEX addresses_by_domain ON addresses (domain_name);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES entities (entity_id),
    member_id TEXT NOT NULL REFERENCES entities (entity_id),
    organization_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_by_member ON group_members (member_id);

CREATE TABLE resource_tags (
    resource_arn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, tag_key)
);
