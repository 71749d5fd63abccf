-- The claim, step 2 (same transaction, rows locked by step 1): lease the chosen leads to the
-- claimer (one lease id per lead), mark them `dialing`, and sweep the org's other expired leases
-- back to the queue (lease cleared, status `new`), skipping rows another claimer holds; each
-- swept lead gets a lead.released event (reason lease_expired; store/events.py).
WITH leased AS (
    UPDATE dial_queue q
    SET lease_id = gen_random_uuid(),
        lease_owner = %(owner)s,
        lease_expires_at = %(now)s::timestamptz + make_interval(secs => %(lease)s)
    WHERE q.org_id = %(org)s AND q.lead_id = ANY (%(ids)s::uuid[])
    RETURNING q.lead_id, q.lease_id, q.lease_expires_at, q.queued_at
),
marked AS (
    UPDATE leads l SET status = 'dialing', updated_at = now()
    FROM leased
    WHERE l.org_id = %(org)s AND l.lead_id = leased.lead_id
    RETURNING l.*
),
expired AS (
    SELECT lead_id FROM dial_queue
    WHERE org_id = %(org)s AND lease_expires_at <= %(now)s::timestamptz
      AND lead_id <> ALL (%(ids)s::uuid[])
    ORDER BY lease_expires_at
    LIMIT 500
    FOR UPDATE SKIP LOCKED
),
swept AS (
    UPDATE dial_queue q SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL
    FROM expired
    WHERE q.org_id = %(org)s AND q.lead_id = expired.lead_id
    RETURNING q.lead_id, q.queued_at
),
reset AS (
    UPDATE leads l SET status = 'new', updated_at = now()
    FROM swept
    WHERE l.org_id = %(org)s AND l.lead_id = swept.lead_id AND l.status = 'dialing'
    RETURNING l.lead_id, l.sandbox, l AS lead_row, swept.queued_at
),
released AS (
    INSERT INTO events (org_id, type, sandbox, lead_id, data)
    SELECT %(org)s, 'lead.released', sandbox, lead_id,
           l2i_lead_data(lead_row, queued_at, NULL) || '{"reason": "lease_expired"}'::jsonb
    FROM reset
    ORDER BY lead_id
)
SELECT m.*, leased.lease_id, leased.lease_expires_at, leased.queued_at,
       (SELECT count(*) FROM reset) AS swept
FROM marked m JOIN leased USING (lead_id)
ORDER BY leased.queued_at, leased.lead_id
