-- Record a dial outcome: only the current holder of a live lease may (the lease id when given,
-- else the key that claimed it). The lead leaves the queue and takes the outcome as its status.
WITH lease AS (
    DELETE FROM dial_queue q
    WHERE q.org_id = %(org)s AND q.lead_id = %(lead)s::uuid
      AND q.lease_expires_at > %(now)s::timestamptz
      AND CASE WHEN %(lease_id)s::uuid IS NULL THEN q.lease_owner = %(owner)s
               ELSE q.lease_id = %(lease_id)s::uuid END
    RETURNING q.lead_id
)
UPDATE leads l SET status = %(outcome)s, updated_at = now()
FROM lease
WHERE l.org_id = %(org)s AND l.lead_id = lease.lead_id
RETURNING l.*
