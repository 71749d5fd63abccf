-- Claim an Idempotency-Key for one request: a new row, or take over a row that expired (24 h)
-- or whose holder died (lease over, no answer). Returns a row only when this request holds it.
-- Parameters: org_id, scope (docs/idempotency.md), route, idem_key, fingerprint, token, lease seconds.
INSERT INTO idempotency_keys AS k
    (org_id, scope, route, idem_key, fingerprint, token, locked_until, created_at)
VALUES (%(org_id)s, %(scope)s, %(route)s, %(key)s, %(fingerprint)s, %(token)s,
        now() + make_interval(secs => %(lease_s)s), now())
ON CONFLICT (org_id, scope, route, idem_key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token,
        locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at,
        status = NULL, content_type = NULL, headers = NULL, body = NULL
    WHERE k.created_at < now() - interval '24 hours'
       OR (k.status IS NULL AND k.locked_until < now())
RETURNING k.token
