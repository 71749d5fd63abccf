-- Of the leads a claim is about to hand out: those whose last scrub is older than the limit (or
-- that were never scrubbed), which must be scrubbed again first.
SELECT lead_id, phone
FROM leads
WHERE org_id = %s AND lead_id = ANY (%s::uuid[])
  AND (last_scrubbed_at IS NULL OR last_scrubbed_at < now() - make_interval(days => %s))
