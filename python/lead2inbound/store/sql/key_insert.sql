INSERT INTO api_keys (key_id, org_id, env, digest, name, scopes, rate_limit_per_minute, last4,
                      kind, allowed_origins, ip_rate_limit_per_minute, success_url, error_url)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING key_id, org_id, env, name, scopes, rate_limit_per_minute, last4, created_at,
          kind, allowed_origins, ip_rate_limit_per_minute, success_url, error_url
