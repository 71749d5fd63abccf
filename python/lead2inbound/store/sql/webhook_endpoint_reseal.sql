-- New sealed secrets for an endpoint (rotation).
UPDATE webhook_endpoints SET secrets = %(secrets)s, key_id = %(key_id)s
WHERE org_id = %(org)s AND endpoint_id = %(id)s::uuid
