-- 0014: the lead after intake (docs/privacy.md, docs/intake.md "Consent that arrives later").
--
-- * `requeue_duplicates` on keys and sources: a re-post of a lead that ended with an outcome
--   allowing another call puts it back into the dial queue (set by an admin).
-- * `erased_at` on leads: the lead's personal data was removed (an erasure or the retention
--   purge); such a lead is never patched, queued or called again.
-- * `erasures`: the record of each erasure request (when, by which key, how many leads), kept
--   as the org's proof that it honoured the request. It holds the number only as the org's
--   setting for kept data says (docs/privacy.md); `phone_digest` lets a repeated request find
--   its first record without the number.
-- Every column has a default or is nullable: safe while the old code serves.
ALTER TABLE api_keys ADD COLUMN requeue_duplicates boolean NOT NULL DEFAULT false;
ALTER TABLE lead_sources ADD COLUMN requeue_duplicates boolean NOT NULL DEFAULT false;
ALTER TABLE leads ADD COLUMN erased_at timestamptz;

CREATE TABLE erasures (
    org_id        uuid        NOT NULL REFERENCES orgs (org_id),
    erasure_id    uuid        NOT NULL,                 -- UUIDv7
    phone_digest  text        NOT NULL,                 -- sha256 hex of org id and E.164
    phone         text,                                 -- E.164, only when the org keeps it
    requested_by  text        NOT NULL,                 -- the key id, or 'cli'
    leads_erased  integer     NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, erasure_id)
);
CREATE INDEX erasures_phone ON erasures (org_id, phone_digest, requested_at);

-- The retention purge (privacy/retention.py) finds the oldest leads not yet reduced; once
-- reduced they leave this index, so each batch reads only what it purges.
CREATE INDEX leads_retention ON leads (created_at, org_id, lead_id) WHERE erased_at IS NULL;
