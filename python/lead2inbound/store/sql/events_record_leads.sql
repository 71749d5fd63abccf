-- Record one event per lead (store/events.py record_leads), its data the lead as stored now in
-- this transaction (l2i_lead_data, 0012_events.sql) merged with the lead's extra, in the given
-- order; one notification per org.
WITH logged AS (
    INSERT INTO events (org_id, type, sandbox, lead_id, request_id, data)
    SELECT l.org_id, %(type)s, l.sandbox, l.lead_id, coalesce(t.request_id, %(request_id)s),
           l2i_lead_data(l, q.queued_at, q.lease_expires_at) || coalesce(t.extra, '{}'::jsonb)
    FROM unnest(%(org)s::uuid[], %(lead)s::uuid[], %(extra)s::jsonb[], %(rid)s::text[])
         WITH ORDINALITY AS t (org_id, lead_id, extra, request_id, ord)
    JOIN leads l ON l.org_id = t.org_id AND l.lead_id = t.lead_id
    LEFT JOIN dial_queue q ON q.org_id = l.org_id AND q.lead_id = l.lead_id
    ORDER BY t.ord
    RETURNING org_id
)
SELECT l2i_events_notify(array_agg(DISTINCT org_id)) FROM logged
