-- The caller's endpoints in the key's mode, newest first (an org has few).
SELECT org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason, created_at
FROM webhook_endpoints
WHERE org_id = %(org)s AND sandbox = %(sandbox)s
ORDER BY endpoint_id DESC
LIMIT 500
