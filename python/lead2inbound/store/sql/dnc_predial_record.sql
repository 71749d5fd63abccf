-- The pre-dial re-scrub's answers for queued leads: clear keeps the lead in the queue with a
-- fresh scrub; a hit makes it ineligible; no answer makes it pending_scrub (the re-scrubber takes
-- over). Leads that leave the queue are deleted from dial_queue in the same statement.
WITH input AS (
    SELECT *
    FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::timestamptz[], %s::jsonb[])
         AS t (org_id, lead_id, outcome, checked_at, evidence)
),
updated AS (
    UPDATE leads l
    SET status = CASE i.outcome WHEN 'clear' THEN l.status
                                WHEN 'unavailable' THEN 'pending_scrub'
                                ELSE 'ineligible' END,
        eligible = l.eligible AND i.outcome = 'clear',
        reasons = CASE i.outcome WHEN 'clear' THEN l.reasons
                                 WHEN 'unavailable' THEN l.reasons || ARRAY['dnc_unavailable']
                                 ELSE l.reasons || ARRAY[i.outcome] END,
        checks = l.checks || jsonb_build_object('dnc', i.outcome),
        last_scrubbed_at = coalesce(i.checked_at, l.last_scrubbed_at),
        dnc_evidence = coalesce(i.evidence, l.dnc_evidence),
        next_scrub_at = NULL,
        scrub_attempts = 0,
        updated_at = now()
    FROM input i
    WHERE l.org_id = i.org_id AND l.lead_id = i.lead_id
    RETURNING l.org_id, l.lead_id, i.outcome
),
scrubbed AS (
    INSERT INTO dnc_scrubs (org_id, lead_id, checked_at, provider, outcome, raw)
    SELECT org_id, lead_id, checked_at, evidence->>'provider', outcome, evidence->>'raw'
    FROM input
    WHERE checked_at IS NOT NULL AND outcome IN ('clear', 'dnc_hit', 'litigator_hit')
    ON CONFLICT DO NOTHING
),
dequeued AS (
    DELETE FROM dial_queue q USING updated u
    WHERE q.org_id = u.org_id AND q.lead_id = u.lead_id AND u.outcome <> 'clear'
    RETURNING q.lead_id
)
SELECT u.lead_id, u.outcome FROM updated u
