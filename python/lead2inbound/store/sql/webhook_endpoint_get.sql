-- One endpoint of the caller's org and mode, with its sealed secrets.
SELECT org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason,
       created_at, secrets, key_id
FROM webhook_endpoints
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND endpoint_id = %(id)s::uuid
