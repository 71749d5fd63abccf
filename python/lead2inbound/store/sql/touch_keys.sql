-- last_used_at, written off the hot path at most once a minute per key.
UPDATE api_keys SET last_used_at = greatest(coalesce(last_used_at, '-infinity'), t.used_at)
FROM unnest(%s::text[], %s::timestamptz[]) AS t (key_id, used_at)
WHERE api_keys.key_id = t.key_id
