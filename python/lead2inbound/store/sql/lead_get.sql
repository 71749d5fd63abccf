-- One lead of the caller's org, with its queue entry if it has one.
SELECT l.*, q.queued_at, q.lease_expires_at
FROM leads l
LEFT JOIN dial_queue q ON q.org_id = l.org_id AND q.lead_id = l.lead_id
WHERE l.org_id = %(org)s AND l.lead_id = %(lead)s::uuid
