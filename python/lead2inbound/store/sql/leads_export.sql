-- The caller's leads for an export, oldest first, with the same filters as leads_list (erased
-- leads are left out: their personal data is gone). Read through a server-side cursor.
SELECT l.*, q.queued_at, q.lease_expires_at
FROM leads l
LEFT JOIN dial_queue q ON q.org_id = l.org_id AND q.lead_id = l.lead_id
WHERE l.org_id = %(org)s AND l.erased_at IS NULL
  AND (%(status)s::text IS NULL OR l.status = %(status)s::text)
  AND (%(source)s::text IS NULL OR l.source = %(source)s::text)
  AND (%(phone)s::text IS NULL OR l.phone = %(phone)s::text)
  AND (%(after)s::timestamptz IS NULL OR l.created_at > %(after)s::timestamptz)
  AND (%(before)s::timestamptz IS NULL OR l.created_at < %(before)s::timestamptz)
ORDER BY l.created_at, l.lead_id
