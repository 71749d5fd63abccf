-- A number's attempts inside the longest attempt-limit window, for its hold (attempt_limits).
SELECT at FROM dial_attempts
WHERE org_id = %(org)s AND phone = %(phone)s
  AND at > %(now)s::timestamptz - make_interval(secs => %(window)s)
ORDER BY at
