-- Replay: the endpoint's events (one id, or a time range; its mode and type filter) are sent
-- again with their own webhook-id, now: a delivered or failed one starts over, a pending one
-- waiting for its next retry is due now (and starts its retries over); a delivery in flight
-- (a worker holds its lease) is left alone: its answer decides.
INSERT INTO webhook_deliveries AS d (org_id, endpoint_id, event_id, lead_id, xact, seq)
SELECT e.org_id, w.endpoint_id, e.event_id, e.lead_id, e.xact, e.seq
FROM webhook_endpoints w
JOIN events e ON e.org_id = w.org_id AND e.sandbox = w.sandbox
WHERE w.org_id = %(org)s AND w.endpoint_id = %(id)s::uuid
  AND (%(event)s::uuid IS NULL OR e.event_id = %(event)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR e.created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR e.created_at < %(until)s::timestamptz)
  AND ('*' = ANY (w.types) OR e.type = ANY (w.types)
       OR split_part(e.type, '.', 1) || '.*' = ANY (w.types))
ORDER BY e.xact, e.seq
LIMIT 10000
ON CONFLICT (endpoint_id, event_id) DO UPDATE
    SET state = 'pending', attempts = 0, next_attempt_at = now(), done_at = NULL
    WHERE d.state <> 'pending' OR d.lease_expires_at IS NULL OR d.lease_expires_at <= now()
RETURNING d.event_id
