-- 0007: lead sources (docs/lead-sources.md, "Sources"). A source is an org's named inbound
-- webhook: the body format it receives, a mapping from its fields to the lead's, and optionally
-- a signature check with a sealed shared secret. Facebook Lead Ads notifications are kept until
-- their lead has been fetched from the Graph API and written (nothing lost on a failed fetch).
--
-- Numbered 0007: 0006 belongs to another change; the migrator applies versions in order and does
-- not need them contiguous.

CREATE TABLE lead_sources (
    org_id        uuid        NOT NULL REFERENCES orgs (org_id),
    source_id     uuid        NOT NULL,                 -- UUIDv7; the ingest URL's id
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),  -- lead.source
    preset        text,                                 -- the preset it started from, if any
    format        text        NOT NULL
                  CHECK (format IN ('json', 'form', 'multipart', 'form_json', 'facebook')),
    json_field    text,                                 -- form_json: the field holding the JSON
    mapping       jsonb       NOT NULL,                 -- lead path -> rule (sources/mapping.py)
    options       jsonb       NOT NULL DEFAULT '{}',    -- unmapped fields, Graph API URL, ...
    signature     text        NOT NULL DEFAULT 'none',  -- sources/signatures.py SCHEMES
    -- AES-256-GCM of the secrets as JSON ({"secret", "verify_token", "page_token"}), with the org
    -- id and "source:<source_id>" as associated data (dnc/crypto.py); NULL: no secrets
    secrets       bytea,
    key_id        text,                                 -- which L2I_SECRET_KEY version sealed it
    sandbox       boolean     NOT NULL DEFAULT false,   -- signed posts act as a test key
    rate_limit    integer     NOT NULL DEFAULT 120 CHECK (rate_limit BETWEEN 1 AND 1000000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, source_id)
);
-- A signed post names only the source: its id finds the org.
CREATE UNIQUE INDEX lead_sources_id ON lead_sources (source_id);

-- One row per Facebook leadgen id: the notification as received, then the fetch's progress.
CREATE TABLE facebook_leads (
    org_id           uuid        NOT NULL,
    leadgen_id       text        NOT NULL,
    source_id        uuid        NOT NULL,
    notification     jsonb       NOT NULL,              -- the change's "value" as Facebook sent it
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'done', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    lead_id          uuid,                              -- the lead it made (or its duplicate's)
    received_at      timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    PRIMARY KEY (org_id, leadgen_id),
    FOREIGN KEY (org_id, source_id) REFERENCES lead_sources (org_id, source_id) ON DELETE CASCADE
);
CREATE INDEX facebook_leads_due ON facebook_leads (next_attempt_at) WHERE status = 'pending';
