-- PATCH /v1/webhook-endpoints/{id} and the console: the given fields (null: unchanged;
-- description by its own flag, since null clears it). Turned off by the org: reason `disabled`;
-- turned on: the reason and the failing streak are cleared, and its fan-out goes on from its
-- cursor, so the events recorded while it was off are sent too (nothing is lost by a pause).
UPDATE webhook_endpoints
SET url = coalesce(%(url)s, url),
    types = coalesce(%(types)s, types),
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
    enabled = coalesce(%(enabled)s, enabled),
    disabled_reason = CASE WHEN %(enabled)s IS NULL THEN disabled_reason
                           WHEN %(enabled)s THEN NULL
                           ELSE 'disabled' END,
    failing_since = CASE WHEN %(enabled)s THEN NULL ELSE failing_since END
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND endpoint_id = %(id)s::uuid
RETURNING org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason,
          created_at
