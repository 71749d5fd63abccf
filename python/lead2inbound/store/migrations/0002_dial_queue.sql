-- 0002: the dial queue hand-off: where a lead is (calling hours), leases.

-- Candidate IANA zones (all of them: the window must be open in every one) and the calling-hours
-- rules that apply ('US' always, plus the state's own when calling_hours.WINDOWS has one).
-- leads.timezone (from 0001) keeps the first zone for display.
ALTER TABLE leads ADD COLUMN timezones text[];
ALTER TABLE leads ADD COLUMN calling_rules text[];

-- A claim's lease: a token the claimer may quote back (complete/release), and the key that took it.
ALTER TABLE dial_queue ADD COLUMN lease_id uuid;

-- Expired leases are found by the claim's sweep.
CREATE INDEX dial_queue_lease ON dial_queue (org_id, lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;

-- Suppressions are listed newest first with a keyset cursor.
CREATE INDEX suppressions_org_created ON suppressions (org_id, created_at DESC, phone DESC);
