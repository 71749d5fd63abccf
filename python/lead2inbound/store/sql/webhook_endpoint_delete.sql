-- Delete an endpoint of the caller's org and mode (its deliveries and attempts go with it).
DELETE FROM webhook_endpoints
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND endpoint_id = %(id)s::uuid
RETURNING endpoint_id
