-- One event's delivery to an endpoint: its state and whether a worker is sending it now (why
-- a replay scheduled nothing).
SELECT d.state, (d.lease_expires_at IS NOT NULL AND d.lease_expires_at > now()) AS in_flight,
       d.next_attempt_at
FROM webhook_deliveries d
WHERE d.org_id = %(org)s AND d.endpoint_id = %(id)s::uuid AND d.event_id = %(event)s::uuid
