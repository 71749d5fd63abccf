-- A fetch's outcome: done (with the lead), failed for good, or pending again after a backoff;
-- a pending one that has had max_attempts tries, or was received give_up_s ago, is failed.
UPDATE facebook_leads
SET status = CASE WHEN give_up THEN 'failed' ELSE %(status)s::text END,
    attempts = attempts + 1,
    last_error = CASE
        WHEN give_up THEN format('gave up after %%s attempts: %%s', attempts + 1, %(error)s::text)
        ELSE %(error)s::text
    END,
    lead_id = COALESCE(%(lead_id)s, lead_id),
    next_attempt_at = now() + make_interval(secs => %(delay_s)s),
    done_at = CASE WHEN %(status)s::text = 'pending' AND NOT give_up THEN NULL ELSE now() END
FROM (
    SELECT %(status)s::text = 'pending' AND (
        attempts + 1 >= %(max_attempts)s
        OR received_at <= now() - make_interval(secs => %(give_up_s)s)
    ) AS give_up
    FROM facebook_leads
    WHERE org_id = %(org_id)s AND leadgen_id = %(leadgen_id)s
) verdict
WHERE org_id = %(org_id)s AND leadgen_id = %(leadgen_id)s
