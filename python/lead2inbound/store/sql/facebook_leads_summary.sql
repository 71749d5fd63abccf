-- A Facebook source's notifications by status, with the latest error of each status.
SELECT status, count(*),
       (array_agg(last_error ORDER BY COALESCE(done_at, next_attempt_at) DESC)
           FILTER (WHERE last_error IS NOT NULL))[1]
FROM facebook_leads
WHERE org_id = %(org_id)s AND source_id = %(source_id)s
GROUP BY status
