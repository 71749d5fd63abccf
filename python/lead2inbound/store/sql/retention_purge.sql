-- One batch of the retention purge (privacy/retention.py): the oldest leads created before the
-- cutoff and not yet reduced, locked (SKIP LOCKED: workers share the work and never wait on a
-- lead another transaction holds), reduced to the record an erasure keeps (`keep_proof`, as in
-- erase_leads.sql; both take it from parts/lead_reduced.sql). Unlike an erasure the number is not
-- suppressed; a lead still before its call leaves the queue as ineligible, `expired`. Claims held
-- by these leads are dropped.
WITH target AS (
    SELECT org_id, lead_id
    FROM leads
    WHERE erased_at IS NULL AND created_at < %(cutoff)s::timestamptz
    ORDER BY created_at, org_id, lead_id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
),
dequeued AS (
    DELETE FROM dial_queue q USING target t
    WHERE q.org_id = t.org_id AND q.lead_id = t.lead_id
    RETURNING q.lead_id
),
unclaimed AS (
    DELETE FROM phone_claims c USING target t
    WHERE c.org_id = t.org_id AND c.lead_id = t.lead_id
),
scrubs AS (
    DELETE FROM dnc_scrubs d USING target t
    WHERE NOT %(keep_proof)s::boolean AND d.org_id = t.org_id AND d.lead_id = t.lead_id
)
UPDATE leads l
SET reasons = CASE WHEN l.status IN ('new', 'dialing', 'pending_scrub', 'ineligible')
                   THEN l.reasons || ARRAY['expired'] ELSE l.reasons END,
    {{lead_reduced}}
FROM target t
WHERE l.org_id = t.org_id AND l.lead_id = t.lead_id
RETURNING l.org_id, l.lead_id
