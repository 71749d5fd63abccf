-- A number at its state attempt limit: the org's other queued leads for it are not due before
-- the hold ends. This keeps held leads out of the claim lanes' index ranges; it skips entries
-- another transaction holds, because the claim's own count under the number's lock is what
-- makes the limit exact.
WITH held AS (
    UPDATE dial_queue q SET due_at = greatest(q.due_at, %(hold)s::timestamptz)
    WHERE q.org_id = %(org)s AND q.lead_id IN (
        SELECT o.lead_id FROM dial_queue o
        WHERE o.org_id = %(org)s AND o.phone = %(phone)s AND o.lead_id <> %(lead)s::uuid
        FOR UPDATE SKIP LOCKED)
    RETURNING q.lead_id, q.due_at
)
UPDATE leads l SET next_attempt_at = held.due_at
FROM held
WHERE l.org_id = %(org)s AND l.lead_id = held.lead_id
