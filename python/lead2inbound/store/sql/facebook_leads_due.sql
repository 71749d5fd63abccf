-- Due notifications, claimed for a lease (next_attempt_at moves past it) so that another worker
-- or node does not fetch the same lead at the same time.
UPDATE facebook_leads f
SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
FROM (
    SELECT org_id, leadgen_id FROM facebook_leads
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) due
WHERE f.org_id = due.org_id AND f.leadgen_id = due.leadgen_id
RETURNING f.org_id, f.leadgen_id, f.source_id, f.notification, f.attempts
