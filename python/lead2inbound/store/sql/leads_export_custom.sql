-- The custom field names of the leads an export holds (its CSV columns), in name order.
SELECT DISTINCT k.name
FROM leads l, jsonb_object_keys(l.custom_fields) AS k (name)
WHERE l.org_id = %(org)s AND l.erased_at IS NULL AND l.custom_fields IS NOT NULL
  AND jsonb_typeof(l.custom_fields) = 'object'
  AND (%(status)s::text IS NULL OR l.status = %(status)s::text)
  AND (%(source)s::text IS NULL OR l.source = %(source)s::text)
  AND (%(phone)s::text IS NULL OR l.phone = %(phone)s::text)
  AND (%(after)s::timestamptz IS NULL OR l.created_at > %(after)s::timestamptz)
  AND (%(before)s::timestamptz IS NULL OR l.created_at < %(before)s::timestamptz)
ORDER BY 1
