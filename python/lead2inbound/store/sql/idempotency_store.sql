-- Store answers, in the transaction of the write they answer (one row per request). An upsert,
-- so a committed write always has its record, even if its claim lapsed meanwhile.
INSERT INTO idempotency_keys AS k
    (org_id, scope, route, idem_key, fingerprint, token, locked_until, status, content_type, headers,
     body, created_at)
SELECT org_id, scope, route, idem_key, fingerprint, token, NULL, status, content_type, headers, body,
       now()
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::bytea[], %s::uuid[], %s::integer[],
            %s::text[], %s::jsonb[], %s::bytea[])
     AS t (org_id, scope, route, idem_key, fingerprint, token, status, content_type, headers, body)
ON CONFLICT (org_id, scope, route, idem_key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token, locked_until = NULL,
        status = EXCLUDED.status, content_type = EXCLUDED.content_type,
        headers = EXCLUDED.headers, body = EXCLUDED.body
