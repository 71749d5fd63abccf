-- Purge records older than 24 hours, a bounded slice at a time (cheap: the created_at index).
DELETE FROM idempotency_keys
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM idempotency_keys
    WHERE created_at < now() - interval '24 hours'
    ORDER BY created_at
    LIMIT %(limit)s
))
