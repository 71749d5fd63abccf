-- An org's sources, oldest first.
SELECT s.org_id, s.source_id, s.name, s.preset, s.format, s.json_field, s.mapping, s.options,
       s.signature, s.secrets, s.key_id, s.sandbox, s.rate_limit, s.created_at,
       o.require_valid_phone, s.success_status, s.requeue_duplicates
FROM lead_sources s
JOIN orgs o ON o.org_id = s.org_id
WHERE s.org_id = %(org_id)s
ORDER BY s.created_at, s.source_id
