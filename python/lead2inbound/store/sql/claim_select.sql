-- The claim, step 2, once per lane (dialing/queue.py fills in LANE_FILTER and LANE_ORDER: callbacks
-- due, new leads, retries due; each has its own partial index of unleased entries): claimable
-- entries in the lane's order, locked so that concurrent claimers on any node skip them.
-- Claimable: not leased (expired leases were swept in step 1); a live lead; the number not on the
-- org's suppression list (belt and braces: a suppression also takes queued leads out in its own
-- transaction); when calling hours are enforced, the local time inside every applicable rule's
-- window in every candidate zone (rules table from calling_hours.WINDOWS, passed as arrays; a
-- missing (rule, day) row = closed); and when attempt limits are enforced, the number below
-- every limit of its state (attempt_limits.LIMITS as arrays): attempts inside the window plus
-- other leads of the number leased right now. That last test reads this statement's snapshot;
-- step 3 repeats it under a lock per number, which makes it exact across racing claims.
SELECT q.lead_id, q.phone, q.queued_at, q.due_at, l.calling_rules
FROM dial_queue q
JOIN leads l ON l.org_id = q.org_id AND l.lead_id = q.lead_id
WHERE q.org_id = %(org)s
  AND q.lease_expires_at IS NULL
  AND LANE_FILTER
  AND NOT l.sandbox
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = q.org_id AND s.phone = q.phone)
  AND (NOT %(enforce)s::boolean OR NOT EXISTS (
        SELECT 1
        FROM unnest(coalesce(l.timezones, %(any_zones)s::text[])) AS z (zone),
             unnest(coalesce(l.calling_rules, ARRAY['US'])) AS r (rule),
             LATERAL (SELECT %(now)s::timestamptz AT TIME ZONE z.zone AS t) AS local
        WHERE NOT EXISTS (
            SELECT 1
            FROM unnest(%(w_rule)s::text[], %(w_dow)s::int[], %(w_start)s::int[],
                        %(w_end)s::int[]) AS w (rule, dow, s, e)
            WHERE w.rule = r.rule
              AND w.dow = extract(isodow FROM local.t)
              AND extract(epoch FROM local.t::time) >= w.s
              AND extract(epoch FROM local.t::time) < w.e)))
  AND (NOT %(limits)s::boolean OR NOT EXISTS (
        SELECT 1
        FROM unnest(%(l_state)s::text[], %(l_max)s::int[], %(l_window)s::int[]) AS lim (state, n, win)
        WHERE lim.state = ANY (l.calling_rules)
          AND (SELECT count(*) FROM dial_attempts a
               WHERE a.org_id = q.org_id AND a.phone = q.phone
                 AND a.at > %(now)s::timestamptz - make_interval(secs => lim.win))
            + (SELECT count(*) FROM dial_queue o
               WHERE o.org_id = q.org_id AND o.phone = q.phone AND o.lead_id <> q.lead_id
                 AND o.lease_expires_at IS NOT NULL AND o.lease_expires_at > %(now)s::timestamptz) >= lim.n))
ORDER BY LANE_ORDER
LIMIT %(limit)s
FOR UPDATE OF q SKIP LOCKED
