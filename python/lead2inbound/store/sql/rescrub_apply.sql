-- The 31-day re-scrub's verdicts, applied in the claim's transaction. 'clear': the scrub time
-- is renewed and the lead may be handed out; 'dnc_hit' / 'litigator_hit': the lead leaves the
-- queue as ineligible; anything else ('dnc_unavailable', no verdict): it leaves the queue as
-- pending_scrub (fail closed).
WITH verdict AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(verdicts)s::text[]) AS v (lead_id, verdict)
),
renewed AS (
    UPDATE dial_queue q SET scrubbed_at = %(now)s::timestamptz
    FROM verdict v
    WHERE q.org_id = %(org)s AND q.lead_id = v.lead_id AND v.verdict = 'clear'
    RETURNING q.lead_id
),
gone AS (
    DELETE FROM dial_queue q
    USING verdict v
    WHERE q.org_id = %(org)s AND q.lead_id = v.lead_id AND v.verdict <> 'clear'
    RETURNING q.lead_id, v.verdict
),
marked AS (
    UPDATE leads l
    SET status = CASE WHEN g.verdict IN ('dnc_hit', 'litigator_hit') THEN 'ineligible'
                      ELSE 'pending_scrub' END,
        eligible = false,
        reasons = l.reasons || ARRAY[CASE WHEN g.verdict IN ('dnc_hit', 'litigator_hit')
                                          THEN g.verdict ELSE 'dnc_unavailable' END],
        checks = l.checks || jsonb_build_object('dnc', CASE g.verdict
                                                    WHEN 'dnc_hit' THEN 'dnc_hit'
                                                    WHEN 'litigator_hit' THEN 'litigator_hit'
                                                    ELSE 'unavailable' END),
        updated_at = now()
    FROM gone g
    WHERE l.org_id = %(org)s AND l.lead_id = g.lead_id
    RETURNING l.lead_id
)
SELECT (SELECT array_agg(lead_id) FROM renewed) AS cleared, (SELECT count(*) FROM marked) AS removed
