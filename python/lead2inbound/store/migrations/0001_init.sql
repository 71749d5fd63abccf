-- 0001: orgs, API keys, leads, duplicate claims, the dial queue and the suppression list.
--
-- Every primary and unique key of org-owned data leads with org_id, so the schema can be
-- distributed by org (Citus) without changing a query on the hot path. api_keys is looked up by
-- key id before the org is known; it is small and would be a Citus reference table.

CREATE TABLE orgs (
    org_id               uuid        PRIMARY KEY,
    name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- duplicate window: a lead for the same phone within this many days is a duplicate
    dedupe_window_days   integer     NOT NULL DEFAULT 30 CHECK (dedupe_window_days BETWEEN 1 AND 365),
    -- when on, a possible but invalid number makes the lead ineligible (invalid_phone_number)
    require_valid_phone  boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id                 text        PRIMARY KEY CHECK (key_id ~ '^[0-9A-Za-z]{12}$'),
    org_id                 uuid        NOT NULL REFERENCES orgs (org_id),
    env                    text        NOT NULL CHECK (env IN ('live', 'test')),
    -- HMAC-SHA256 of the whole key under L2I_KEY_PEPPER; the key itself is never stored
    digest                 bytea       NOT NULL CHECK (length(digest) = 32),
    name                   text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scopes                 text[]      NOT NULL,
    rate_limit_per_minute  integer     NOT NULL DEFAULT 120 CHECK (rate_limit_per_minute BETWEEN 1 AND 1000000),
    last4                  text        NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    last_used_at           timestamptz,
    revoked_at             timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE leads (
    org_id           uuid        NOT NULL REFERENCES orgs (org_id),
    lead_id          uuid        NOT NULL,              -- UUIDv7, time ordered
    sandbox          boolean     NOT NULL,              -- sent with an l2i_test_ key
    api_key_id       text        NOT NULL,
    phone            text        NOT NULL,              -- E.164
    phone_raw        text        NOT NULL,              -- as posted
    phone_valid      boolean     NOT NULL,
    phone_region     text,
    phone_extension  text,
    source           text,
    external_id      text,
    first_name       text,
    last_name        text,
    email            text,
    state            text,
    postal_code      text,
    city             text,
    address          text,
    consent          jsonb,                             -- consent evidence as posted
    attribution      jsonb,
    custom_fields    jsonb,
    status           text        NOT NULL,
    eligible         boolean     NOT NULL,
    reasons          text[]      NOT NULL,
    checks           jsonb       NOT NULL,              -- the decision trace, one entry per gate
    timezone         text,
    callable_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, lead_id)
);
CREATE INDEX leads_org_created ON leads (org_id, created_at DESC, lead_id DESC);
CREATE INDEX leads_org_phone ON leads (org_id, phone, created_at DESC);

-- One row per (org, sandbox, phone): which lead holds the phone's duplicate window. A new lead
-- takes the row over only when the holder's created_at is older than the org's window; the
-- upsert and the lead insert share one transaction, so racing nodes get exactly one lead.
CREATE TABLE phone_claims (
    org_id      uuid        NOT NULL,
    sandbox     boolean     NOT NULL,
    phone       text        NOT NULL,
    lead_id     uuid        NOT NULL,
    claimed_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, sandbox, phone)
);

-- Eligible live leads waiting for (or leased to) a dialer.
CREATE TABLE dial_queue (
    org_id            uuid        NOT NULL,
    lead_id           uuid        NOT NULL,
    phone             text        NOT NULL,
    queued_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    PRIMARY KEY (org_id, lead_id),
    FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, lead_id) ON DELETE CASCADE
);
CREATE INDEX dial_queue_fifo ON dial_queue (org_id, queued_at, lead_id);
CREATE INDEX dial_queue_phone ON dial_queue (org_id, phone);

-- The org's own opt-outs.
CREATE TABLE suppressions (
    org_id      uuid        NOT NULL REFERENCES orgs (org_id),
    phone       text        NOT NULL,                 -- E.164
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, phone)
);
