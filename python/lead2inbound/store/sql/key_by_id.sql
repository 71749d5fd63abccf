-- The key record and its org's settings, for authentication (cached per worker).
SELECT k.key_id, k.org_id, k.env, k.digest, k.scopes, k.rate_limit_per_minute, k.revoked_at,
       o.require_valid_phone, o.dedupe_window_days, k.kind, k.allowed_origins,
       k.ip_rate_limit_per_minute, k.success_url, k.error_url, k.requeue_duplicates
FROM api_keys k JOIN orgs o ON o.org_id = k.org_id
WHERE k.key_id = %s
