-- GET /v1/events, newest first: the caller's org and mode, optional type / type prefix / lead
-- filters, keyset paging by log position.
SELECT org_id, event_id, xact, seq, type, sandbox, lead_id, request_id, data, created_at
FROM events
WHERE org_id = %(org)s AND sandbox = %(sandbox)s
  AND (%(lead)s::uuid IS NULL OR lead_id = %(lead)s::uuid)
  AND (%(type)s::text IS NULL OR type = %(type)s)
  AND (%(prefix)s::text IS NULL OR starts_with(type, %(prefix)s::text))
  AND (%(c_xact)s::xid8 IS NULL OR (xact, seq) < (%(c_xact)s::xid8, %(c_seq)s::bigint))
ORDER BY xact DESC, seq DESC
LIMIT %(limit)s
