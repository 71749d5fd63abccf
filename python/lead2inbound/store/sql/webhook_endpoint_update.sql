-- PATCH /v1/webhook-endpoints/{id}: the given fields (null: unchanged; description by its own
-- flag, since null clears it). Disabling says `api`; enabling clears the reason and the failing
-- streak and, for an endpoint that was disabled, starts its fan-out at the log's horizon (the
-- events in between are not sent unless replayed).
UPDATE webhook_endpoints
SET url = coalesce(%(url)s, url),
    types = coalesce(%(types)s, types),
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
    enabled = coalesce(%(enabled)s, enabled),
    disabled_reason = CASE WHEN %(enabled)s IS NULL THEN disabled_reason
                           WHEN %(enabled)s THEN NULL
                           WHEN enabled THEN 'api'
                           ELSE disabled_reason END,
    failing_since = CASE WHEN %(enabled)s THEN NULL ELSE failing_since END,
    cursor_xact = CASE WHEN %(enabled)s AND NOT enabled THEN (SELECT l2i_event_horizon())
                       ELSE cursor_xact END,
    cursor_seq = CASE WHEN %(enabled)s AND NOT enabled THEN 0 ELSE cursor_seq END
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND endpoint_id = %(id)s::uuid
RETURNING org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason,
          created_at
