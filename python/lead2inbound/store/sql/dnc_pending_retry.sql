-- The provider still cannot answer: try these pending leads again after their backoff.
UPDATE leads l
SET scrub_attempts = l.scrub_attempts + 1,
    next_scrub_at = now() + make_interval(secs => t.delay_s),
    dnc_evidence = coalesce(t.evidence, l.dnc_evidence),
    updated_at = now()
FROM unnest(%s::uuid[], %s::uuid[], %s::float8[], %s::jsonb[]) AS t (org_id, lead_id, delay_s, evidence)
WHERE l.org_id = t.org_id AND l.lead_id = t.lead_id AND l.status = 'pending_scrub'
