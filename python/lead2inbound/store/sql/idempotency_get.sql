-- The record of a claimed key (someone else's claim, or a stored answer).
SELECT fingerprint, status, content_type, headers, body, locked_until > now() AS in_flight
FROM idempotency_keys
WHERE org_id = %(org_id)s AND scope = %(scope)s AND route = %(route)s AND idem_key = %(key)s
