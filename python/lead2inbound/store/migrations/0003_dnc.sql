-- 0003: DNC providers. Per org at most one connected provider (credentials encrypted), the scrub
-- evidence on each lead and its history, and what the re-scrubber needs to find pending leads.

CREATE TABLE dnc_connections (
    org_id          uuid        PRIMARY KEY REFERENCES orgs (org_id),
    provider        text        NOT NULL
                    CHECK (provider IN ('tcpa-litigator-list', 'dncscrub', 'registry')),
    base_url        text,                               -- NULL: the provider's public host
    timeout_ms      integer     NOT NULL DEFAULT 800 CHECK (timeout_ms BETWEEN 50 AND 60000),
    options         jsonb       NOT NULL DEFAULT '{}',  -- non-secret provider options
    -- AES-256-GCM (nonce || ciphertext+tag) of the credentials as JSON, with the org id and the
    -- provider as associated data; NULL for providers without credentials (registry)
    credentials     bytea,
    key_id          text,                               -- which L2I_SECRET_KEY version sealed it
    connected_at    timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The latest scrub of the lead: when, and the provider's raw answer as evidence
-- ({"provider", "outcome", "checked_at", "raw"}). NULL: never scrubbed.
ALTER TABLE leads ADD COLUMN last_scrubbed_at timestamptz;
ALTER TABLE leads ADD COLUMN dnc_evidence jsonb;
-- The re-scrubber's schedule for pending_scrub leads (NULL = due now) and its attempts so far.
ALTER TABLE leads ADD COLUMN next_scrub_at timestamptz;
ALTER TABLE leads ADD COLUMN scrub_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX leads_pending_scrub ON leads (next_scrub_at NULLS FIRST, org_id, lead_id)
    WHERE status = 'pending_scrub';

-- Every answer a provider gave about a lead, in order (the lead row keeps the latest).
CREATE TABLE dnc_scrubs (
    org_id      uuid        NOT NULL,
    lead_id     uuid        NOT NULL,
    checked_at  timestamptz NOT NULL,
    provider    text        NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('clear', 'dnc_hit', 'litigator_hit')),
    raw         text        NOT NULL,
    PRIMARY KEY (org_id, lead_id, checked_at),
    FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, lead_id) ON DELETE CASCADE
);
