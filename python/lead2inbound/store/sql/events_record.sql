-- Record events (store/events.py record, record_many): one multi-row insert, in the given order,
-- and one notification per org (delivered on commit only).
WITH logged AS (
    INSERT INTO events (org_id, type, sandbox, lead_id, request_id, data)
    SELECT org_id, type, sandbox, lead_id, request_id, data
    FROM unnest(%s::uuid[], %s::text[], %s::boolean[], %s::uuid[], %s::text[], %s::jsonb[])
         WITH ORDINALITY AS t (org_id, type, sandbox, lead_id, request_id, data, ord)
    ORDER BY ord
    RETURNING event_id, org_id
),
notified AS (
    SELECT l2i_events_notify(array_agg(DISTINCT org_id)) FROM logged
)
SELECT l.event_id, (SELECT count(*) FROM notified) FROM logged l
