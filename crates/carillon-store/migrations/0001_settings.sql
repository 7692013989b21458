-- Server-wide settings shared by every node (secrets for pagination tokens and the like).
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Leases coordinating background jobs across nodes: one holder at a time until expires_at.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
