-- An erased (or retention-reduced) lead's events keep no personal values (privacy/erasure.py):
-- each event's data keeps only the listed members (the lead's decision, ids and dates, and with
-- `consent_proof` its number and its consent without IP address and user agent); the rest,
-- names, email, address, custom fields, the raw phone, a duplicate post's fields, goes.
UPDATE events e
SET data = coalesce(
    (SELECT jsonb_object_agg(
                x.k,
                CASE WHEN x.k = 'consent' AND jsonb_typeof(x.v) = 'object'
                     THEN x.v - 'ip_address' - 'user_agent' ELSE x.v END)
     FROM jsonb_each(e.data) AS x (k, v)
     WHERE x.k = ANY (%(keep)s::text[])),
    '{}'::jsonb)
WHERE e.org_id = ANY (%(orgs)s::uuid[]) AND e.lead_id = ANY (%(leads)s::uuid[])
  AND e.lead_id IS NOT NULL
