-- The provider answered for pending_scrub leads (or the org disconnected it: outcome
-- not_connected): record the answer, decide the lead (suppression is checked again: an opt-out
-- may have arrived meanwhile), queue the eligible live ones and notify listeners once.
WITH input AS (
    SELECT *
    FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::timestamptz[], %s::jsonb[])
         AS t (org_id, lead_id, outcome, checked_at, evidence)
),
decided AS (
    SELECT i.*, l.sandbox, l.phone,
           (CASE WHEN EXISTS (SELECT 1 FROM suppressions s
                              WHERE s.org_id = l.org_id AND s.phone = l.phone)
                 THEN ARRAY['suppressed'] ELSE ARRAY[]::text[] END)
           || (CASE WHEN i.outcome IN ('dnc_hit', 'litigator_hit')
                    THEN ARRAY[i.outcome] ELSE ARRAY[]::text[] END)
           -- a pending lead's only reason is dnc_unavailable; any other would have made it
           -- ineligible at intake. Keep whatever else is there, after the gates' reasons.
           || array_remove(array_remove(l.reasons, 'dnc_unavailable'), 'suppressed') AS reasons
    FROM input i JOIN leads l ON l.org_id = i.org_id AND l.lead_id = i.lead_id
    WHERE l.status = 'pending_scrub'
),
updated AS (
    UPDATE leads l
    SET status = CASE WHEN cardinality(d.reasons) = 0 THEN 'new' ELSE 'ineligible' END,
        eligible = cardinality(d.reasons) = 0,
        reasons = d.reasons,
        checks = l.checks || jsonb_build_object(
            'dnc', d.outcome,
            'suppression', CASE WHEN 'suppressed' = ANY (d.reasons) THEN 'hit' ELSE 'clear' END),
        last_scrubbed_at = coalesce(d.checked_at, l.last_scrubbed_at),
        dnc_evidence = coalesce(d.evidence, l.dnc_evidence),
        next_scrub_at = NULL,
        updated_at = now()
    FROM decided d
    WHERE l.org_id = d.org_id AND l.lead_id = d.lead_id
    RETURNING l.org_id, l.lead_id, l.phone, l.sandbox, l.eligible, l.status
),
scrubbed AS (
    INSERT INTO dnc_scrubs (org_id, lead_id, checked_at, provider, outcome, raw)
    SELECT d.org_id, d.lead_id, d.checked_at, d.evidence->>'provider', d.outcome,
           d.evidence->>'raw'
    FROM decided d
    WHERE d.checked_at IS NOT NULL AND d.outcome IN ('clear', 'dnc_hit', 'litigator_hit')
    ON CONFLICT DO NOTHING
),
queued AS (
    INSERT INTO dial_queue (org_id, lead_id, phone)
    SELECT org_id, lead_id, phone FROM updated WHERE eligible AND NOT sandbox
    ORDER BY lead_id
    ON CONFLICT DO NOTHING
    RETURNING org_id
),
notified AS (
    SELECT count(*) AS n,
           CASE WHEN count(*) > 0
                THEN pg_notify('l2i_dial_queue', json_build_object('queued', count(*))::text)::text
           END AS sent
    FROM queued
)
SELECT u.lead_id, u.status, n.n AS queued, u.org_id, u.eligible, u.sandbox
FROM updated u, notified n
