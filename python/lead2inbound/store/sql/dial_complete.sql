-- The lead leaves the queue and takes a final outcome as its status (the caller holds its lease:
-- dial_holder.sql locked it), counting the attempt that reached it.
WITH gone AS (
    DELETE FROM dial_queue q
    WHERE q.org_id = %(org)s AND q.lead_id = %(lead)s::uuid
    RETURNING q.lead_id
)
UPDATE leads l
SET status = %(outcome)s, attempts = %(attempts)s, last_attempt_at = %(at)s,
    next_attempt_at = NULL, callback_at = NULL, updated_at = now()
FROM gone
WHERE l.org_id = %(org)s AND l.lead_id = gone.lead_id
RETURNING l.*
