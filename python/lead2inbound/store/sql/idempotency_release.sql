-- Give a claim up when its request failed before anything was committed (e.g. 503), so a
-- retry runs at once instead of waiting out the lease.
DELETE FROM idempotency_keys
WHERE org_id = %(org_id)s AND scope = %(scope)s AND route = %(route)s AND idem_key = %(key)s
  AND token = %(token)s AND status IS NULL
