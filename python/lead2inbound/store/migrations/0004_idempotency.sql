-- 0004: Idempotency-Key records (docs/idempotency.md).
--
-- One row per (org, route, key). A request that claims a key inserts the row with no answer and
-- a short lease (`locked_until`); the answer (status, body, headers) is written in the same
-- transaction as the request's business write (the lead insert), so an answer is replayable
-- only if it was committed, and a committed lead always has its record. A row whose lease ran
-- out with no answer (the process died) may be claimed again. Rows older than 24 hours are
-- purged periodically and treated as absent until then.
CREATE TABLE idempotency_keys (
    org_id        uuid        NOT NULL,
    route         text        NOT NULL,             -- e.g. 'POST /v1/leads'
    idem_key      text        NOT NULL,             -- the client's Idempotency-Key
    fingerprint   bytea,                            -- SHA-256 of the canonical parsed request
    token         uuid        NOT NULL,             -- who holds the claim
    locked_until  timestamptz,                      -- in flight until then (NULL once answered)
    status        integer,                          -- the stored answer; NULL while in flight
    content_type  text,
    headers       jsonb,
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, route, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
