-- 0011: source URLs that are their own credential (docs/lead-sources.md, "Source URLs"), and the
-- success status a source answers with.
--
-- A source URL is `/v1/hooks/l2i_hook_<hook id>_<secret><crc>`: the hook id is public (the row's
-- key, shown in logs), the whole token is stored only as its HMAC-SHA256 under the key pepper
-- (like API keys). Rotating a source's URL adds a row and gives the older ones an end
-- (`expires_at`, the overlap); revoking one sets `revoked_at`.

CREATE TABLE source_hooks (
    hook_id     text        PRIMARY KEY CHECK (hook_id ~ '^[0-9A-Za-z]{12}$'),
    org_id      uuid        NOT NULL,
    source_id   uuid        NOT NULL,
    digest      bytea       NOT NULL CHECK (length(digest) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,                 -- NULL: until rotated or revoked
    revoked_at  timestamptz,
    FOREIGN KEY (org_id, source_id) REFERENCES lead_sources (org_id, source_id) ON DELETE CASCADE
);
CREATE INDEX source_hooks_source ON source_hooks (org_id, source_id);

-- What a lead made through a source answers: 201 (as POST /v1/leads) or 200 for vendors that
-- count anything else as a failure (Webflow). Duplicates answer 200 either way.
ALTER TABLE lead_sources
    ADD COLUMN success_status smallint NOT NULL DEFAULT 201 CHECK (success_status IN (200, 201));

-- What vendors sent to a source (docs/lead-sources.md, "Deliveries"): every post that did not
-- become a lead is kept with its raw body and its headers (credentials and signatures removed),
-- so it can be replayed after the mapping is fixed; posts that made a lead are listed without
-- a body. Rows older than the retention, and past the newest 1,000 of a source, are purged as
-- new ones arrive.
CREATE TABLE source_deliveries (
    delivery_id   uuid        PRIMARY KEY,          -- UUIDv7
    org_id        uuid        NOT NULL,
    source_id     uuid        NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    outcome       text        NOT NULL
                  CHECK (outcome IN ('created', 'duplicate', 'refused', 'unauthorized')),
    status        smallint    NOT NULL,             -- what the vendor was answered
    problem       jsonb,                            -- the refusal: code, detail, errors
    content_type  text,
    headers       jsonb       NOT NULL DEFAULT '{}',
    body          bytea,                            -- only for deliveries that made no lead
    lead_id       uuid,
    replayed_at   timestamptz,
    replay_status smallint,
    FOREIGN KEY (org_id, source_id) REFERENCES lead_sources (org_id, source_id) ON DELETE CASCADE
);
CREATE INDEX source_deliveries_recent ON source_deliveries (org_id, source_id, received_at DESC);
