-- 0013: console sign-in (docs/console.md). A session is one org's, signed in with an admin key
-- or a one-time link; only a digest of its cookie token is stored, so a copy of this table signs
-- nobody in. A session ends at `idle_expires_at` (renewed as it is used, never past
-- `expires_at`), at `expires_at` (absolute), when signed out (revoked_at), or when the admin key
-- that opened it is revoked.

CREATE TABLE console_sessions (
    token_digest      bytea       PRIMARY KEY CHECK (length(token_digest) = 32),
    org_id            uuid        NOT NULL REFERENCES orgs (org_id),
    key_id            text,                      -- the admin key used to sign in; NULL: a link
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    idle_expires_at   timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz
);
CREATE INDEX console_sessions_org ON console_sessions (org_id, created_at);

-- One-time sign-in links printed by `l2i console link`: used at most once, before expires_at.
CREATE TABLE console_links (
    token_digest  bytea       PRIMARY KEY CHECK (length(token_digest) = 32),
    org_id        uuid        NOT NULL REFERENCES orgs (org_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
