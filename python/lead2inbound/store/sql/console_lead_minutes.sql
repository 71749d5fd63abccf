-- The Overview's picture: the org's stored leads per minute since `since` by outcome (queued,
-- pending_scrub, or held by its first reason). Reads the last day through leads_org_created.
SELECT date_trunc('minute', created_at) AS minute,
       CASE WHEN eligible THEN 'queued'
            WHEN status = 'pending_scrub' THEN 'pending_scrub'
            ELSE 'held: ' || coalesce(reasons[1], status) END AS outcome,
       count(*) AS leads
FROM leads
WHERE org_id = %(org)s AND created_at > %(since)s::timestamptz AND NOT sandbox
GROUP BY 1, 2
