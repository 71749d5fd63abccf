-- Revoke a key (idempotent); returns the key whether or not it was already revoked.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE key_id = %s AND (%s::uuid IS NULL OR org_id = %s::uuid)
RETURNING key_id, org_id, revoked_at
