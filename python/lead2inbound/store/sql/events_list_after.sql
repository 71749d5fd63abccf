-- Oldest first after a position (GET /v1/events?after=, a lead's history, the stream): only
-- events below the log's horizon (l2i_event_horizon, 0012_events.sql), so one that commits later
-- with a smaller position is never skipped by a reader's cursor.
SELECT org_id, event_id, xact, seq, type, sandbox, lead_id, request_id, data, created_at
FROM events
WHERE org_id = %(org)s AND sandbox = %(sandbox)s
  AND (%(lead)s::uuid IS NULL OR lead_id = %(lead)s::uuid)
  AND (%(type)s::text IS NULL OR type = %(type)s)
  AND (%(prefix)s::text IS NULL OR starts_with(type, %(prefix)s::text))
  AND (%(c_xact)s::xid8 IS NULL OR (xact, seq) > (%(c_xact)s::xid8, %(c_seq)s::bigint))
  AND xact < (SELECT l2i_event_horizon())
ORDER BY xact, seq
LIMIT %(limit)s
