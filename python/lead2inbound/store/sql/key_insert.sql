INSERT INTO api_keys (key_id, org_id, env, digest, name, scopes, rate_limit_per_minute, last4)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
RETURNING key_id, org_id, env, name, scopes, rate_limit_per_minute, last4, created_at
