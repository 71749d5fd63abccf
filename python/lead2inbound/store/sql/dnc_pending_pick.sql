-- The re-scrubber's next pending leads, locked for this transaction; other workers and nodes
-- skip them (SKIP LOCKED), so no lead is scrubbed twice at once.
SELECT org_id, lead_id, phone, scrub_attempts
FROM leads
WHERE status = 'pending_scrub' AND (next_scrub_at IS NULL OR next_scrub_at <= now())
ORDER BY next_scrub_at NULLS FIRST, org_id, lead_id
LIMIT %s
FOR UPDATE SKIP LOCKED
