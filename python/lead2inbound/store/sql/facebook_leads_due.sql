-- Due notifications, claimed for a lease (next_attempt_at moves past it) so that another worker
-- or node does not fetch the same lead at the same time. Fair across orgs: each org's due rows
-- are numbered oldest first, counting after what this worker already has in flight for that
-- org (busy_orgs/busy_counts); the claim takes every org's first turn before any org's second,
-- and no org beyond per_org turns.
WITH busy AS (
    SELECT b.org_id, b.n
    FROM unnest(%(busy_orgs)s::uuid[], %(busy_counts)s::int[]) AS b (org_id, n)
), due AS (
    SELECT d.org_id, d.leadgen_id,
           row_number() OVER (PARTITION BY d.org_id ORDER BY d.next_attempt_at)
               + COALESCE(busy.n, 0) AS turn
    FROM facebook_leads d
    LEFT JOIN busy ON busy.org_id = d.org_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
), picked AS (
    SELECT f.org_id, f.leadgen_id
    FROM facebook_leads f
    JOIN due ON due.org_id = f.org_id AND due.leadgen_id = f.leadgen_id
    WHERE due.turn <= %(per_org)s AND f.status = 'pending' AND f.next_attempt_at <= now()
    ORDER BY due.turn, f.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF f SKIP LOCKED
)
UPDATE facebook_leads f
SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
FROM picked
WHERE f.org_id = picked.org_id AND f.leadgen_id = picked.leadgen_id
RETURNING f.org_id, f.leadgen_id, f.source_id, f.notification, f.attempts
