-- A page of the caller's leads, newest first, keyset on (created_at, lead_id). One row more
-- than the page is read to tell whether there is more.
SELECT l.*, q.queued_at, q.lease_expires_at
FROM leads l
LEFT JOIN dial_queue q ON q.org_id = l.org_id AND q.lead_id = l.lead_id
WHERE l.org_id = %(org)s
  AND (%(status)s::text IS NULL OR l.status = %(status)s::text)
  AND (%(source)s::text IS NULL OR l.source = %(source)s::text)
  AND (%(phone)s::text IS NULL OR l.phone = %(phone)s::text)
  AND (%(after)s::timestamptz IS NULL OR l.created_at > %(after)s::timestamptz)
  AND (%(before)s::timestamptz IS NULL OR l.created_at < %(before)s::timestamptz)
  AND (%(c_at)s::timestamptz IS NULL
       OR (l.created_at, l.lead_id) < (%(c_at)s::timestamptz, %(c_id)s::uuid))
ORDER BY l.created_at DESC, l.lead_id DESC
LIMIT %(limit)s
