-- Connect (or replace) the org's DNC provider.
INSERT INTO dnc_connections AS d
    (org_id, provider, base_url, timeout_ms, options, credentials, key_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (org_id) DO UPDATE
    SET provider = EXCLUDED.provider, base_url = EXCLUDED.base_url,
        timeout_ms = EXCLUDED.timeout_ms, options = EXCLUDED.options,
        credentials = EXCLUDED.credentials, key_id = EXCLUDED.key_id,
        connected_at = now(), updated_at = now()
