-- The Chime system's shared core (carillon-chime): users, chat sessions, rooms and their
-- memberships, conversations, messages and bots. Spec: chime-zh.md §1.3, §1.10, §1.16.
-- Every row carries the tenant (`account_id`) except an unmanaged identity's user row.

-- A Chime user: an email identity, a member of at most one Chime account. A user removed
-- from a Team account keeps the row (their unmanaged identity) with chime_account_id and
-- account_id NULL and no license (§1.3 state transitions).
CREATE TABLE chime_users (
    user_id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (account_id),
    chime_account_id TEXT REFERENCES chime_accounts (chime_account_id),
    -- Lower-cased; one identity per address across Carillon.
    primary_email TEXT NOT NULL UNIQUE,
    display_name TEXT,
    -- Model UserType: PrivateUser | SharedDevice.
    user_type TEXT NOT NULL DEFAULT 'PrivateUser',
    -- Model License: Basic | Plus | Pro | ProTrial; NULL for an unmanaged identity.
    license_type TEXT,
    -- Model RegistrationStatus: Unregistered | Registered | Suspended.
    registration_status TEXT NOT NULL,
    -- Model InviteStatus: Pending | Accepted | Failed; NULL when never invited.
    invitation_status TEXT,
    invited_at BIGINT,
    registered_at BIGINT,
    -- Start of a ProTrial license (30 days).
    trial_started_at BIGINT,
    -- 10 digits.
    personal_pin TEXT NOT NULL,
    -- Argon2id PHC string; NULL until the user registers.
    password_hash TEXT,
    -- Presence privacy chosen by the user: Public | Private.
    privacy TEXT NOT NULL DEFAULT 'Public',
    alexa_enabled BIGINT NOT NULL DEFAULT 0,
    alexa_room_arn TEXT,
    -- UserSettings.Telephony: 0/1.
    inbound_calling BIGINT NOT NULL DEFAULT 1,
    outbound_calling BIGINT NOT NULL DEFAULT 1,
    sms BIGINT NOT NULL DEFAULT 1,
    -- The E.164 Business Calling number assigned to the user.
    primary_provisioned_number TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_users_by_account ON chime_users (chime_account_id, user_id);

-- A signed-in chat client: the bearer token's SHA-256 (hex) names the session. LogoutUser
-- deletes every row of the user.
CREATE TABLE chime_sessions (
    session_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES chime_users (user_id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX chime_sessions_by_user ON chime_sessions (user_id);

-- A chat room of a Chime account; created by a user (created_by) or an administrator
-- (created_by NULL).
CREATE TABLE chime_rooms (
    room_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    chime_account_id TEXT NOT NULL REFERENCES chime_accounts (chime_account_id),
    name TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_rooms_by_account ON chime_rooms (chime_account_id, room_id);

-- A room member: a user, a bot (its user_id) or an incoming webhook (its webhook_id).
CREATE TABLE chime_room_memberships (
    room_id TEXT NOT NULL REFERENCES chime_rooms (room_id),
    member_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    -- Model MemberType: User | Bot | Webhook.
    member_type TEXT NOT NULL,
    -- Model RoomMembershipRole: Administrator | Member.
    role TEXT NOT NULL,
    invited_by TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, member_id)
);
CREATE INDEX chime_room_memberships_by_member ON chime_room_memberships (member_id);

-- A 1:1 or group conversation between users, possibly of several Chime accounts (a
-- cross-account conversation keeps 90 days, §2.6).
CREATE TABLE chime_conversations (
    conversation_id TEXT PRIMARY KEY,
    is_group BIGINT NOT NULL,
    created_by TEXT NOT NULL REFERENCES chime_users (user_id),
    created_at BIGINT NOT NULL
);

CREATE TABLE chime_conversation_members (
    conversation_id TEXT NOT NULL REFERENCES chime_conversations (conversation_id),
    user_id TEXT NOT NULL REFERENCES chime_users (user_id),
    -- The member's Chime account when they joined (NULL: unmanaged).
    chime_account_id TEXT,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX chime_conversation_members_by_user ON chime_conversation_members (user_id);

-- A chat message of a room or a conversation (`container_id`). `content` is NULL once
-- redacted (removed for good). Retention sets `hidden_at`; the message is purged 30 days
-- later unless the policy change restores it first (§2.6).
CREATE TABLE chime_messages (
    message_id TEXT PRIMARY KEY,
    -- room | conversation
    container_type TEXT NOT NULL,
    container_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    -- User | Bot | Webhook
    sender_type TEXT NOT NULL,
    -- What clients show as the sender: the user's display name, the bot's, or
    -- "<webhook name> (Webhook)".
    sender_name TEXT NOT NULL,
    content TEXT,
    -- JSON array of the user IDs the message mentions (@alias, @All, @Present resolved).
    mentions TEXT NOT NULL DEFAULT '[]',
    redacted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    hidden_at BIGINT
);
CREATE INDEX chime_messages_by_container ON chime_messages (container_id, created_at, message_id);

-- A chat bot of an Enterprise account (§1.16); `user_id` is its room member ID.
CREATE TABLE chime_bots (
    bot_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    chime_account_id TEXT NOT NULL REFERENCES chime_accounts (chime_account_id),
    display_name TEXT NOT NULL,
    bot_email TEXT NOT NULL UNIQUE,
    disabled BIGINT NOT NULL DEFAULT 0,
    -- The SecurityToken, sealed at rest.
    security_token TEXT NOT NULL,
    -- EventsConfiguration: the HTTPS endpoint (NULL: none).
    outbound_events_endpoint TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_bots_by_account ON chime_bots (chime_account_id, bot_id);
