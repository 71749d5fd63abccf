-- A fetch's outcome: done (with the lead), failed for good, or pending again after a backoff.
UPDATE facebook_leads
SET status = %(status)s,
    attempts = attempts + 1,
    last_error = %(error)s,
    lead_id = COALESCE(%(lead_id)s, lead_id),
    next_attempt_at = now() + make_interval(secs => %(delay_s)s),
    done_at = CASE WHEN %(status)s = 'pending' THEN NULL ELSE now() END
WHERE org_id = %(org_id)s AND leadgen_id = %(leadgen_id)s
