-- The org's connected DNC provider (at most one), or no row.
SELECT provider, base_url, timeout_ms, options, credentials, key_id, updated_at
FROM dnc_connections WHERE org_id = %s
