-- The delivery worker's fan-out: for each enabled endpoint (locked, SKIP LOCKED: one worker per
-- endpoint at a time), the org's events of its mode after its cursor and below the log's
-- horizon (none is skipped by one committing late), a delivery per event its filter matches,
-- and the cursor moved past every event looked at.
WITH ep AS (
    SELECT org_id, endpoint_id, sandbox, types, cursor_xact, cursor_seq
    FROM webhook_endpoints
    WHERE enabled
    ORDER BY endpoint_id
    FOR UPDATE SKIP LOCKED
),
horizon AS (
    SELECT l2i_event_horizon() AS h
),
picked AS (
    SELECT ep.endpoint_id, ep.types, e.*
    FROM ep CROSS JOIN horizon
    CROSS JOIN LATERAL (
        SELECT ev.org_id, ev.event_id, ev.lead_id, ev.xact, ev.seq, ev.type
        FROM events ev
        WHERE ev.org_id = ep.org_id AND ev.sandbox = ep.sandbox
          AND (ev.xact, ev.seq) > (ep.cursor_xact, ep.cursor_seq) AND ev.xact < horizon.h
        ORDER BY ev.xact, ev.seq
        LIMIT %(limit)s
    ) e
),
made AS (
    INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, lead_id, xact, seq)
    SELECT org_id, endpoint_id, event_id, lead_id, xact, seq FROM picked
    WHERE '*' = ANY (types) OR type = ANY (types) OR split_part(type, '.', 1) || '.*' = ANY (types)
    ORDER BY xact, seq
    ON CONFLICT DO NOTHING
    RETURNING 1
),
moved AS (
    UPDATE webhook_endpoints w SET cursor_xact = m.xact, cursor_seq = m.seq
    FROM (SELECT DISTINCT ON (endpoint_id) endpoint_id, xact, seq
          FROM picked ORDER BY endpoint_id, xact DESC, seq DESC) AS m
    WHERE w.endpoint_id = m.endpoint_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM made), (SELECT count(*) FROM moved)
