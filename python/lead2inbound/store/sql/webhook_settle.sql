-- Settle what a worker sent (only deliveries it still holds): delivered, failed (last try or
-- 410), or pending again at its next try; every attempt is recorded.
WITH r AS (
    SELECT *
    FROM unnest(%(ep)s::uuid[], %(ev)s::uuid[], %(outcome)s::text[], %(status)s::int[],
                %(ms)s::int[], %(response)s::text[], %(error)s::text[], %(retry_in)s::float8[])
         AS t (endpoint_id, event_id, outcome, status, duration_ms, response, error, retry_in)
),
settled AS (
    UPDATE webhook_deliveries d
    SET state = CASE r.outcome WHEN 'retry' THEN 'pending' ELSE r.outcome END,
        next_attempt_at = CASE WHEN r.outcome = 'retry'
                               THEN now() + make_interval(secs => r.retry_in)
                               ELSE d.next_attempt_at END,
        lease_owner = NULL, lease_expires_at = NULL,
        done_at = CASE WHEN r.outcome = 'retry' THEN NULL ELSE now() END
    FROM r
    WHERE d.endpoint_id = r.endpoint_id AND d.event_id = r.event_id
      AND d.lease_owner = %(owner)s AND d.state = 'pending'
    RETURNING d.org_id, d.endpoint_id, d.event_id, d.attempts, r.status, r.duration_ms,
              r.response, r.error
)
INSERT INTO webhook_attempts (org_id, endpoint_id, event_id, attempt, status, duration_ms,
                              response, error)
SELECT org_id, endpoint_id, event_id, attempts, status, duration_ms, response, error
FROM settled
