-- The lead stays in the queue for its next try (its lease ends): after a non-final attempt, or
-- for a callback. due_at: not claimable before it.
WITH q AS (
    UPDATE dial_queue q
    SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
        attempts = %(attempts)s, due_at = %(due)s::timestamptz, callback = %(callback)s
    WHERE q.org_id = %(org)s AND q.lead_id = %(lead)s::uuid
    RETURNING q.lead_id, q.queued_at
)
UPDATE leads l
SET status = %(status)s, attempts = %(attempts)s, last_attempt_at = %(at)s,
    next_attempt_at = %(due)s::timestamptz, callback_at = %(callback_at)s::timestamptz,
    updated_at = now()
FROM q
WHERE l.org_id = %(org)s AND l.lead_id = q.lead_id
RETURNING l.*, q.queued_at
