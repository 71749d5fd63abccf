-- An endpoint's delivery attempts, newest first, keyset paged.
SELECT a.attempt_id, a.event_id, a.attempt, a.attempted_at, a.status, a.duration_ms,
       a.response, a.error, e.type
FROM webhook_attempts a
LEFT JOIN events e ON e.org_id = a.org_id AND e.event_id = a.event_id
WHERE a.org_id = %(org)s AND a.endpoint_id = %(id)s::uuid
  AND (%(before)s::bigint IS NULL OR a.attempt_id < %(before)s::bigint)
ORDER BY a.attempt_id DESC
LIMIT %(limit)s
