-- The next entries of one org's dial queue in claim order (FIFO by queued_at), with what the
-- console shows of each lead.
SELECT q.lead_id, q.queued_at, q.lease_expires_at, l.phone, l.first_name, l.last_name,
       l.state, l.source, l.timezones, l.calling_rules, l.sandbox
FROM dial_queue q
JOIN leads l ON l.org_id = q.org_id AND l.lead_id = q.lead_id
WHERE q.org_id = %(org)s
ORDER BY q.queued_at, q.lead_id
LIMIT %(limit)s
