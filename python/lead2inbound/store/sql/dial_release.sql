-- Put a leased lead back in the queue (same holder rule as completion), with nothing counted: it
-- keeps its place (queued_at, and due_at for a retry or callback), and its status before the claim.
WITH lease AS (
    UPDATE dial_queue q SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL
    WHERE q.org_id = %(org)s AND q.lead_id = %(lead)s::uuid
      AND q.lease_expires_at > %(now)s::timestamptz
      AND CASE WHEN %(lease_id)s::uuid IS NULL THEN q.lease_owner = %(owner)s
               ELSE q.lease_id = %(lease_id)s::uuid END
    RETURNING q.lead_id, q.queued_at, q.callback
)
UPDATE leads l
SET status = CASE WHEN lease.callback THEN 'callback_requested' ELSE 'new' END, updated_at = now()
FROM lease
WHERE l.org_id = %(org)s AND l.lead_id = lease.lead_id
RETURNING l.*, lease.queued_at
