-- The batched writer's one statement: claim each phone's duplicate window, check the suppression
-- list, store the leads that won their claim, queue the eligible live ones and notify listeners
-- once. Input rows are sorted by (org_id, sandbox, phone) so concurrent batches take claim row
-- locks in one order and cannot deadlock. The one parameter is the batch as a JSON array, one
-- array per lead, by position (pipeline.PreparedLead.row): one encoder call in the worker, and
-- Postgres, which has cores to spare, takes it apart.
WITH input AS (
    SELECT (e->>0)::uuid AS org_id, (e->>1)::uuid AS lead_id, (e->>2)::boolean AS sandbox,
           e->>3 AS api_key_id,
           e->>4 AS phone, e->>5 AS phone_raw, (e->>6)::boolean AS phone_valid,
           e->>7 AS phone_region, e->>8 AS phone_extension,
           e->>9 AS source, e->>10 AS external_id, e->>11 AS first_name, e->>12 AS last_name,
           e->>13 AS email, e->>14 AS state, e->>15 AS postal_code, e->>16 AS city,
           e->>17 AS address,
           nullif(e->18, 'null') AS consent, nullif(e->19, 'null') AS attribution,
           nullif(e->20, 'null') AS custom_fields,
           e->>21 AS status, (e->>22)::boolean AS eligible, e->>23 AS pre_reasons,
           e->>24 AS post_reasons, e->25 AS checks,
           (e->>26)::timestamptz AS last_scrubbed_at, nullif(e->27, 'null') AS dnc_evidence,
           e->>28 AS zones, e->>29 AS calling_rules, e->>30 AS request_id
    FROM jsonb_array_elements(%s::jsonb) AS e
    ORDER BY 1, 3, 5
),
claimed AS (
    INSERT INTO phone_claims AS c (org_id, sandbox, phone, lead_id, claimed_at)
    SELECT org_id, sandbox, phone, lead_id, now() FROM input
    ON CONFLICT (org_id, sandbox, phone) DO UPDATE
        SET lead_id = EXCLUDED.lead_id, claimed_at = EXCLUDED.claimed_at
        -- Take the claim over only when its lead has left the org's window. The claim row is
        -- read at its latest committed version (a racing batch's fresh claim counts), while the
        -- holder lead is read from this statement's snapshot, where a racing batch's lead is
        -- not visible yet: so a claim is taken over only when it is old by its own time, or its
        -- lead, visible, is old by the lead's own created_at.
        WHERE EXISTS (
            SELECT 1 FROM orgs o
            WHERE o.org_id = c.org_id
              AND (c.claimed_at <= now() - make_interval(days => o.dedupe_window_days)
                   OR EXISTS (
                       SELECT 1 FROM leads l
                       WHERE l.org_id = c.org_id AND l.lead_id = c.lead_id
                         AND l.created_at <= now() - make_interval(days => o.dedupe_window_days)))
        )
    RETURNING c.lead_id
),
gated AS (
    SELECT i.*,
           EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = i.org_id AND s.phone = i.phone)
               AS suppressed
    FROM input i JOIN claimed USING (lead_id)
),
inserted AS (
    INSERT INTO leads (
        org_id, lead_id, sandbox, api_key_id,
        phone, phone_raw, phone_valid, phone_region, phone_extension,
        source, external_id, first_name, last_name, email, state, postal_code, city, address,
        consent, attribution, custom_fields,
        status, eligible, reasons, checks, last_scrubbed_at, dnc_evidence,
        timezone, timezones, calling_rules
    )
    SELECT org_id, lead_id, sandbox, api_key_id,
           phone, phone_raw, phone_valid, phone_region, phone_extension,
           source, external_id, first_name, last_name, email, state, postal_code, city, address,
           consent, attribution, custom_fields,
           CASE WHEN suppressed THEN 'ineligible' ELSE status END,
           eligible AND NOT suppressed,
           string_to_array(nullif(pre_reasons, ''), ',')
             || CASE WHEN suppressed THEN ARRAY['suppressed'] ELSE ARRAY[]::text[] END
             || string_to_array(nullif(post_reasons, ''), ','),
           checks || jsonb_build_object('suppression',
                                        CASE WHEN suppressed THEN 'hit' ELSE 'clear' END),
           last_scrubbed_at, dnc_evidence,
           split_part(zones, ',', 1), string_to_array(nullif(zones, ''), ','),
           string_to_array(nullif(calling_rules, ''), ',')
    FROM gated
    RETURNING org_id, lead_id, phone, sandbox, status, eligible, reasons, checks,
              last_scrubbed_at, dnc_evidence, leads AS lead
),
scrubbed AS (
    -- the DNC provider's answer, kept as evidence (0003_dnc.sql)
    INSERT INTO dnc_scrubs (org_id, lead_id, checked_at, provider, outcome, raw)
    SELECT org_id, lead_id, last_scrubbed_at, dnc_evidence->>'provider',
           dnc_evidence->>'outcome', dnc_evidence->>'raw'
    FROM inserted WHERE last_scrubbed_at IS NOT NULL
),
queued AS (
    INSERT INTO dial_queue (org_id, lead_id, phone)
    SELECT org_id, lead_id, phone FROM inserted WHERE eligible AND NOT sandbox
    ORDER BY lead_id
    RETURNING org_id, lead_id, queued_at
),
logged AS (
    -- the event log (store/events.py), in the leads' own statement: lead.created for each, then
    -- lead.queued or lead.held; the second parameter is off only in the benchmark's comparison
    INSERT INTO events (org_id, type, sandbox, lead_id, request_id, data)
    SELECT i.org_id, k.type, i.sandbox, i.lead_id, n.request_id,
           l2i_lead_data(i.lead, q.queued_at, NULL)
    FROM inserted i
    JOIN input n ON n.lead_id = i.lead_id
    LEFT JOIN queued q ON q.lead_id = i.lead_id
    CROSS JOIN unnest(l2i_intake_events(q.lead_id IS NOT NULL, i.status))
        WITH ORDINALITY AS k (type, ord)
    WHERE %s::boolean
    ORDER BY i.lead_id, k.ord
    RETURNING org_id
),
notified AS (
    -- one notification per committed batch, not per lead, on each channel
    SELECT count(*) AS n,
           CASE WHEN count(*) > 0
                THEN pg_notify('l2i_dial_queue', json_build_object('queued', count(*))::text)::text
           END AS sent,
           (SELECT l2i_events_notify(array_agg(DISTINCT org_id)) FROM logged) AS told
    FROM queued
)
SELECT i.lead_id, i.status, i.eligible, i.reasons, i.checks, n.n AS queued
FROM inserted i, notified n
