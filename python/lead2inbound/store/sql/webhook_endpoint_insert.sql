-- A new webhook endpoint; its fan-out starts at the log's horizon (events from now on).
INSERT INTO webhook_endpoints (org_id, endpoint_id, sandbox, url, types, description, enabled,
                               secrets, key_id, cursor_xact)
VALUES (%(org)s, %(id)s, %(sandbox)s, %(url)s, %(types)s, %(description)s, %(enabled)s,
        %(secrets)s, %(key_id)s, (SELECT l2i_event_horizon()))
RETURNING org_id, endpoint_id, sandbox, url, types, description, enabled, disabled_reason,
          created_at
