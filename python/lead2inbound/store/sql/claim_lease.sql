-- The claim, step 4 (same transaction, rows locked by step 2): lease the chosen leads to the
-- claimer (one lease id per lead) and mark them `dialing`; rows come back in the order chosen.
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
)
SELECT m.*, leased.lease_id, leased.lease_expires_at, leased.queued_at
FROM marked m JOIN leased USING (lead_id)
ORDER BY array_position(%(ids)s::uuid[], leased.lead_id)
