-- Turn an endpoint of the caller's org and mode on or off (the org's choice). Turned on, its
-- failing streak starts over and the reason it was off is cleared; turned off by the org, the
-- reason is `disabled`. Its pending deliveries wait while it is off (the claim skips them).
UPDATE webhook_endpoints
SET enabled = %(enabled)s,
    failing_since = CASE WHEN %(enabled)s THEN NULL ELSE failing_since END,
    disabled_reason = CASE WHEN %(enabled)s THEN NULL ELSE 'disabled' END
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND endpoint_id = %(id)s::uuid
RETURNING org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason,
          created_at
