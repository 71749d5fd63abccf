-- Erasure by email: the numbers of the org's leads that carry that address.
SELECT DISTINCT phone
FROM leads
WHERE org_id = %(org)s AND lower(email) = %(email)s AND erased_at IS NULL
