-- Delete a source (its pending Facebook notifications go with it).
DELETE FROM lead_sources WHERE org_id = %(org_id)s AND source_id = %(source_id)s
RETURNING source_id
