-- The peer's own small schema (database `peer`): what a first version of a lead intake has.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      text PRIMARY KEY,
    org_id      uuid NOT NULL,
    digest      bytea NOT NULL,
    scopes      text[] NOT NULL,
    rate_limit  integer NOT NULL,
    revoked_at  timestamptz
);
CREATE TABLE IF NOT EXISTS leads (
    lead_id      uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    phone        text NOT NULL,
    phone_raw    text NOT NULL,
    phone_valid  boolean NOT NULL,
    status       text NOT NULL,
    eligible     boolean NOT NULL,
    reasons      text[] NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS leads_org_phone ON leads (org_id, phone, created_at DESC);
CREATE TABLE IF NOT EXISTS dial_queue (
    lead_id    uuid PRIMARY KEY REFERENCES leads (lead_id),
    queued_at  timestamptz NOT NULL DEFAULT now()
);
