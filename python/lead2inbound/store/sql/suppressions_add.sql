-- Add numbers (E.164, de-duplicated) to the org's suppression list; returns those newly added.
INSERT INTO suppressions (org_id, phone, reason)
SELECT %(org)s, p.phone, %(reason)s
FROM (SELECT DISTINCT unnest(%(phones)s::text[]) AS phone) AS p
ORDER BY p.phone
ON CONFLICT (org_id, phone) DO NOTHING
RETURNING phone
