-- Unsold leads pushed back (intake/duplicates.py): a re-post by a `requeue_duplicates` key or
-- source puts a lead that ended with an outcome allowing another call back into the dial queue,
-- if it is eligible, not erased and its number not suppressed. The UPDATE locks the lead and
-- re-reads its status after a racing re-post's commit, so racing re-posts requeue it once.
WITH updated AS (
    UPDATE leads l
    SET status = 'new', updated_at = clock_timestamp()
    FROM unnest(%(orgs)s::uuid[], %(leads)s::uuid[]) AS t (org_id, lead_id)
    WHERE l.org_id = t.org_id AND l.lead_id = t.lead_id
      AND l.status = ANY (%(outcomes)s::text[])
      AND l.eligible AND l.erased_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = l.org_id AND s.phone = l.phone)
    RETURNING l.org_id, l.lead_id, l.phone, l.sandbox, l.status, l.eligible, l.reasons, l.checks,
              l.phone_valid
),
queued AS (
    INSERT INTO dial_queue (org_id, lead_id, phone)
    SELECT org_id, lead_id, phone FROM updated WHERE NOT sandbox
    ORDER BY org_id, lead_id
    ON CONFLICT DO NOTHING
    RETURNING lead_id
),
notified AS (
    SELECT count(*) AS n,
           CASE WHEN count(*) > 0
                THEN pg_notify('l2i_dial_queue', json_build_object('queued', count(*))::text)::text
           END AS sent
    FROM queued
)
SELECT u.lead_id, u.status, u.eligible, u.reasons, u.checks, u.phone_valid, EXISTS (SELECT 1 FROM queued x WHERE x.lead_id = u.lead_id) AS queued, 0
FROM updated u, notified n
