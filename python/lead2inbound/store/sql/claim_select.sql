-- The claim, step 1: the org's oldest claimable queue entries (FIFO by queued_at), locked so
-- that concurrent claimers on any node skip them. Claimable: not leased, or leased with the lease
-- expired; a live lead; the number not on the org's suppression list (belt and braces: a
-- suppression also takes queued leads out in its own transaction); and, when calling hours are
-- enforced, the local time inside every applicable rule's window in every candidate zone
-- (rules table from calling_hours.WINDOWS, passed as arrays; a missing (rule, day) row = closed).
SELECT q.lead_id, l.phone, q.lease_expires_at
FROM dial_queue q
JOIN leads l ON l.org_id = q.org_id AND l.lead_id = q.lead_id
WHERE q.org_id = %(org)s
  AND (q.lease_expires_at IS NULL OR q.lease_expires_at <= %(now)s::timestamptz)
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
ORDER BY q.queued_at, q.lead_id
LIMIT %(limit)s
FOR UPDATE OF q SKIP LOCKED
