-- 0015: call attempts, per-org retry policies, callbacks and state attempt limits
-- (docs/dial-queue.md).

-- An org's retry schedule: the delay before try n+1 after attempt n is retry_after_s[n] (the
-- last entry repeats); after max_attempts attempts the lead ends `unreachable`. No row: the
-- defaults in dialing/attempts.py.
CREATE TABLE dial_policies (
    org_id         uuid        PRIMARY KEY REFERENCES orgs (org_id),
    retry_after_s  integer[]   NOT NULL CHECK (cardinality(retry_after_s) BETWEEN 1 AND 20),
    max_attempts   integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 50),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Every call attempt. The state limits count them per (org, phone) over a rolling window.
CREATE TABLE dial_attempts (
    org_id       uuid        NOT NULL,
    lead_id      uuid        NOT NULL,
    attempt_no   integer     NOT NULL CHECK (attempt_no >= 1),
    phone        text        NOT NULL,
    result       text        NOT NULL
                 CHECK (result IN ('no_answer', 'busy', 'voicemail', 'failed', 'answered')),
    at           timestamptz NOT NULL,
    duration_s   integer     CHECK (duration_s BETWEEN 0 AND 86400),
    dialer       text        CHECK (length(dialer) <= 200),
    outcome      text,                                -- set when `complete` recorded it
    api_key_id   text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, lead_id, attempt_no)
);
CREATE INDEX dial_attempts_phone ON dial_attempts (org_id, phone, at);

-- The lead as the API shows it: its attempts so far, the last one, when the next may happen
-- (retry schedule, callback or state-limit hold, whichever is latest) and a requested callback.
ALTER TABLE leads ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE leads ADD COLUMN last_attempt_at timestamptz;
ALTER TABLE leads ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE leads ADD COLUMN callback_at timestamptz;

-- The queue entry: attempts so far; due_at NULL = a new lead, else not claimable before it;
-- callback = a callback the consumer asked for (claimed ahead of retries).
ALTER TABLE dial_queue ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE dial_queue ADD COLUMN due_at timestamptz;
ALTER TABLE dial_queue ADD COLUMN callback boolean NOT NULL DEFAULT false;

-- One index per claim lane, holding only unleased entries, so a claim never steps over leased
-- leads or retries not yet due (see claim_select.sql).
CREATE INDEX dial_queue_new ON dial_queue (org_id, queued_at, lead_id)
    WHERE due_at IS NULL AND lease_expires_at IS NULL;
CREATE INDEX dial_queue_retry ON dial_queue (org_id, due_at, lead_id)
    WHERE due_at IS NOT NULL AND NOT callback AND lease_expires_at IS NULL;
CREATE INDEX dial_queue_callback ON dial_queue (org_id, due_at, lead_id)
    WHERE callback AND lease_expires_at IS NULL;

-- A number's live leases (counted as calls about to happen by the state limits), found by phone
-- among the few leased entries rather than by scanning every lease of the org.
CREATE INDEX dial_queue_leased_phone ON dial_queue (org_id, phone)
    WHERE lease_expires_at IS NOT NULL;

-- Events carry the lead as GET /v1/leads/{id} shows it (0012): now with its attempts too.
CREATE OR REPLACE FUNCTION l2i_lead_data(l leads, queued_at timestamptz, lease_expires_at timestamptz)
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
        'attempts', l.attempts, 'last_attempt_at', l.last_attempt_at,
        'next_attempt_at', l.next_attempt_at, 'callback_at', l.callback_at,
        'created_at', l.created_at, 'updated_at', l.updated_at)
$$;
