-- Every org with its DNC provider (if any), the leads stored without a scrub because none was
-- connected, and the leads waiting for a re-scrub. Never the credentials.
SELECT o.org_id, o.name, d.provider, d.base_url, d.timeout_ms, d.options, d.key_id,
       d.connected_at,
       (SELECT count(*) FROM leads l
         WHERE l.org_id = o.org_id AND l.checks->>'dnc' = 'not_connected') AS unscrubbed,
       (SELECT count(*) FROM leads l
         WHERE l.org_id = o.org_id AND l.status = 'pending_scrub') AS pending
FROM orgs o LEFT JOIN dnc_connections d ON d.org_id = o.org_id
WHERE %(org_id)s::uuid IS NULL OR o.org_id = %(org_id)s::uuid
ORDER BY o.created_at
