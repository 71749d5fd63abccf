-- Retention: one small batch of events older than the retention (found through the BRIN index
-- on created_at), with deliveries and attempts of the same age; SKIP LOCKED, so workers purging
-- at once share the work instead of waiting on each other.
WITH old AS (
    SELECT org_id, event_id FROM events
    WHERE created_at < now() - make_interval(days => %(days)s)
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
),
deliveries AS (
    DELETE FROM webhook_deliveries d
    WHERE d.ctid = ANY (ARRAY(
        SELECT ctid FROM webhook_deliveries
        WHERE created_at < now() - make_interval(days => %(days)s)
        LIMIT %(batch)s))
),
attempts AS (
    DELETE FROM webhook_attempts a
    WHERE a.ctid = ANY (ARRAY(
        SELECT ctid FROM webhook_attempts
        WHERE attempted_at < now() - make_interval(days => %(days)s)
        LIMIT %(batch)s))
)
DELETE FROM events e USING old
WHERE e.org_id = old.org_id AND e.event_id = old.event_id
RETURNING 1
