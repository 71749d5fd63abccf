-- Erase the personal data of the org's leads with these numbers (privacy/erasure.py). With
-- `keep_proof` the E.164 number, the consent evidence a TCPA claim needs and the scrub evidence
-- stay; without it they go too. A lead before its call leaves the queue (a lease included) as
-- ineligible, `suppressed`; a lead with an outcome keeps it. What is cleared and kept:
-- parts/lead_reduced.sql (shared with retention_purge.sql).
WITH target AS (
    SELECT org_id, lead_id
    FROM leads
    WHERE org_id = %(org)s AND phone = ANY (%(phones)s::text[]) AND erased_at IS NULL
    ORDER BY lead_id
    FOR UPDATE
),
dequeued AS (
    DELETE FROM dial_queue q USING target t
    WHERE q.org_id = t.org_id AND q.lead_id = t.lead_id
    RETURNING q.lead_id
),
scrubs AS (
    DELETE FROM dnc_scrubs d USING target t
    WHERE NOT %(keep_proof)s::boolean AND d.org_id = t.org_id AND d.lead_id = t.lead_id
)
UPDATE leads l
SET reasons = CASE WHEN l.status NOT IN ('new', 'dialing', 'pending_scrub', 'ineligible')
                        OR 'suppressed' = ANY (l.reasons) THEN l.reasons
                   ELSE ARRAY['suppressed'] || l.reasons END,
    checks = CASE WHEN l.status IN ('new', 'dialing', 'pending_scrub', 'ineligible')
                  THEN l.checks || '{"suppression": "hit"}'::jsonb ELSE l.checks END,
    {{lead_reduced}}
FROM target t
WHERE l.org_id = t.org_id AND l.lead_id = t.lead_id
RETURNING l.lead_id
