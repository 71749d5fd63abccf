-- An org's keys for display: never the key, never its digest.
SELECT key_id, env, name, scopes, rate_limit_per_minute, last4, created_at, last_used_at,
       revoked_at, kind, allowed_origins, ip_rate_limit_per_minute, success_url, error_url
FROM api_keys WHERE org_id = %s
ORDER BY created_at, key_id
