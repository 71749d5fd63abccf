-- 0012: the event log (a transactional outbox, docs/events.md), webhook endpoints, their
-- deliveries and every delivery attempt.
--
-- An event row is inserted by the transaction that makes the change it records, so it exists if
-- and only if the change committed. Its public id is a UUIDv7 (time ordered, never reused). Its
-- place in the log is (xact, seq): the id of the transaction that wrote it, then a sequence
-- number. A reader that takes only events whose xact is below the oldest transaction still in
-- flight (pg_snapshot_xmin) never skips one that commits later with a smaller position, so a
-- cursor (`after=`, `Last-Event-ID`, an endpoint's fan-out) misses nothing.

-- A UUIDv7 from Postgres 15's own functions (18 has uuidv7()): the millisecond time over the
-- first 48 bits of a random UUID, version bits set to 7.
CREATE FUNCTION l2i_uuidv7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                      FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- The log's safe horizon: every event below this position is committed or never will be. It is
-- the oldest transaction id still in flight in this statement's snapshot (STABLE: the caller's
-- snapshot, not a newer one), leaving out transactions of other databases of the cluster (their
-- ids are shared, their events are not ours); with none in flight, the snapshot's xmax. A long
-- transaction of this database holds cursor readers back (never makes them skip an event).
CREATE FUNCTION l2i_event_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
         WHERE (x::text::bigint % 4294967296) NOT IN (
             SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE datname IS DISTINCT FROM current_database() AND backend_xid IS NOT NULL)),
        pg_snapshot_xmax(snap.s))
    FROM (SELECT pg_current_snapshot() AS s) AS snap
$$;

CREATE TABLE events (
    org_id      uuid        NOT NULL,
    event_id    uuid        NOT NULL DEFAULT l2i_uuidv7(),
    xact        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint      NOT NULL GENERATED ALWAYS AS IDENTITY (CACHE 64),
    type        text        NOT NULL CHECK (length(type) BETWEEN 1 AND 64),
    sandbox     boolean     NOT NULL DEFAULT false,
    lead_id     uuid,
    request_id  text,
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, event_id)
);
-- The org's log in order (GET /v1/events, the stream, an endpoint's fan-out), per mode.
CREATE INDEX events_org_log ON events (org_id, sandbox, xact, seq);
-- A lead's history (GET /v1/leads/{id}/events, lead_id filters).
CREATE INDEX events_lead ON events (org_id, lead_id, xact, seq) WHERE lead_id IS NOT NULL;
-- Retention: rows are appended in time order, so a BRIN index finds the old ones for a few
-- pages of index instead of a B-tree entry per event.
CREATE INDEX events_created ON events USING brin (created_at);

-- The lead as GET /v1/leads/{id} shows it (dialing/leads.py lead_json), for an event's data.
-- callable_at is left out: it depends on when it is read (GET the lead for it).
CREATE FUNCTION l2i_lead_data(l leads, queued_at timestamptz, lease_expires_at timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'lead_id', l.lead_id, 'status', l.status, 'eligible', l.eligible,
        'reasons', to_jsonb(l.reasons), 'checks', l.checks, 'sandbox', l.sandbox,
        'api_key_id', l.api_key_id, 'phone', l.phone, 'phone_raw', l.phone_raw,
        'phone_valid', l.phone_valid, 'phone_region', l.phone_region,
        'phone_extension', l.phone_extension, 'source', l.source, 'external_id', l.external_id,
        'first_name', l.first_name, 'last_name', l.last_name, 'email', l.email,
        'state', l.state, 'postal_code', l.postal_code, 'city', l.city, 'address', l.address,
        'consent', l.consent, 'attribution', l.attribution, 'custom_fields', l.custom_fields,
        'timezone', l.timezone, 'timezones', coalesce(to_jsonb(l.timezones), '[]'::jsonb),
        'queued_at', queued_at, 'lease_expires_at', lease_expires_at,
        'created_at', l.created_at, 'updated_at', l.updated_at)
$$;

-- The events a stored lead starts with (the writer's statement): lead.created, then lead.queued
-- (a live eligible lead) or lead.held (ineligible); a pending_scrub lead waits for its re-scrub.
CREATE FUNCTION l2i_intake_events(queued boolean, status text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['lead.created'] || CASE WHEN queued THEN ARRAY['lead.queued']
                                         WHEN status = 'ineligible' THEN ARRAY['lead.held']
                                         ELSE ARRAY[]::text[] END
$$;

-- NOTIFY l2i_events once for a statement's events: their distinct org ids, comma separated (or
-- "*" past 100 orgs: a notification's payload is limited to 8000 bytes). Sent on commit only.
CREATE FUNCTION l2i_events_notify(orgs uuid[]) RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('l2i_events', CASE WHEN cardinality(orgs) > 100 THEN '*'
                                        ELSE array_to_string(orgs, ',') END)
    WHERE cardinality(orgs) > 0
$$;

-- Webhook endpoints: an org's URL that receives the events it subscribes to. A test key's
-- endpoint receives sandbox events only, a live key's live events only.
CREATE TABLE webhook_endpoints (
    org_id             uuid        NOT NULL REFERENCES orgs (org_id),
    endpoint_id        uuid        NOT NULL,             -- UUIDv7
    sandbox            boolean     NOT NULL,
    url                text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    types              text[]      NOT NULL,             -- '*', 'lead.*' or exact types
    description        text        CHECK (length(description) <= 500),
    enabled            boolean     NOT NULL DEFAULT true,
    disabled_reason    text,
    -- AES-256-GCM of {"secret", "previous", "previous_until"} (dnc/crypto.py), the org id and
    -- "webhook:<endpoint_id>" as associated data
    secrets            bytea       NOT NULL,
    key_id             text,
    -- the fan-out's cursor: every event up to this position has been considered
    cursor_xact        xid8        NOT NULL,
    cursor_seq         bigint      NOT NULL DEFAULT 0,
    failing_since      timestamptz,                      -- first failure of the current streak
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, endpoint_id)
);
CREATE UNIQUE INDEX webhook_endpoints_id ON webhook_endpoints (endpoint_id);

-- One row per (endpoint, event): pending until a 2xx (delivered) or the last try (failed).
CREATE TABLE webhook_deliveries (
    org_id            uuid        NOT NULL,
    endpoint_id       uuid        NOT NULL,
    event_id          uuid        NOT NULL,
    lead_id           uuid,                              -- per-lead order
    xact              xid8        NOT NULL,
    seq               bigint      NOT NULL,
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    done_at           timestamptz,
    PRIMARY KEY (endpoint_id, event_id),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, endpoint_id)
        ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- "Is an earlier event of this lead still pending for this endpoint?"
CREATE INDEX webhook_deliveries_lead ON webhook_deliveries (endpoint_id, lead_id, xact, seq)
    WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    org_id        uuid        NOT NULL,
    endpoint_id   uuid        NOT NULL,
    attempt_id    bigint      GENERATED ALWAYS AS IDENTITY,
    event_id      uuid        NOT NULL,
    attempt       integer     NOT NULL,                  -- 1 for the first try
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status        integer,                               -- HTTP status; NULL: no answer
    duration_ms   integer     NOT NULL,
    response      text,                                  -- the answer's first 1 KB
    error         text,                                  -- why there was no answer
    PRIMARY KEY (endpoint_id, attempt_id),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, endpoint_id)
        ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_time ON webhook_attempts USING brin (attempted_at);
