-- The claim, step 1: the org's expired leases go back to the queue first (lease cleared; the
-- lead `new` again, or `callback_requested` for a callback), so this claim's lanes see them.
-- Rows another claimer holds are skipped; at most 500 per claim. Each swept lead gets a
-- lead.released event (reason lease_expired; store/events.py).
WITH expired AS (
    SELECT lead_id FROM dial_queue
    WHERE org_id = %(org)s AND lease_expires_at <= %(now)s::timestamptz
    ORDER BY lease_expires_at
    LIMIT 500
    FOR UPDATE SKIP LOCKED
),
swept AS (
    UPDATE dial_queue q SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL
    FROM expired
    WHERE q.org_id = %(org)s AND q.lead_id = expired.lead_id
    RETURNING q.lead_id, q.callback, q.queued_at
),
reset AS (
    UPDATE leads l
    SET status = CASE WHEN swept.callback THEN 'callback_requested' ELSE 'new' END,
        updated_at = now()
    FROM swept
    WHERE l.org_id = %(org)s AND l.lead_id = swept.lead_id AND l.status = 'dialing'
    RETURNING l.lead_id, l.sandbox, l AS lead_row, swept.queued_at
)
INSERT INTO events (org_id, type, sandbox, lead_id, data)
SELECT %(org)s, 'lead.released', sandbox, lead_id,
       l2i_lead_data(lead_row, queued_at, NULL) || '{"reason": "lease_expired"}'::jsonb
FROM reset
ORDER BY lead_id
