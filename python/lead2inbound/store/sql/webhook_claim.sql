-- Lease due deliveries (SKIP LOCKED: workers and nodes never take the same one; a lease that
-- expires, its holder dead, is taken again). A lead's deliveries to one endpoint go in log
-- order: one waits while an earlier one of the same lead is still pending there. The answer
-- carries what sending needs: the endpoint's URL and sealed secrets, the event.
WITH due AS (
    SELECT d.endpoint_id, d.event_id
    FROM webhook_deliveries d
    JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id
    WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND w.enabled
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= now())
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries p
          WHERE p.endpoint_id = d.endpoint_id AND p.lead_id = d.lead_id AND p.state = 'pending'
            AND (p.xact, p.seq) < (d.xact, d.seq))
    ORDER BY d.next_attempt_at, d.xact, d.seq
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    attempts = d.attempts + 1
FROM due, webhook_endpoints w, events e
WHERE d.endpoint_id = due.endpoint_id AND d.event_id = due.event_id
  AND w.endpoint_id = d.endpoint_id AND e.org_id = d.org_id AND e.event_id = d.event_id
RETURNING d.org_id, d.endpoint_id, d.event_id, d.attempts, w.url, w.secrets, w.key_id,
          e.type, e.sandbox, e.lead_id, e.request_id, e.data, e.created_at
