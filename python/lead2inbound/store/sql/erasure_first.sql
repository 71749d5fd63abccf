-- The first record of an erasure request (by the digest of what was asked for).
SELECT erasure_id, leads_erased, requested_at, requested_by
FROM erasures
WHERE org_id = %(org)s AND phone_digest = %(digest)s
ORDER BY requested_at, erasure_id
LIMIT 1
