-- The queue entry of a lead leased to the caller (the lease id when given, else the key that
-- claimed it), locked for the attempt or completion that follows in the same transaction.
SELECT q.lead_id, q.phone, q.attempts, l.calling_rules, l.timezones
FROM dial_queue q
JOIN leads l ON l.org_id = q.org_id AND l.lead_id = q.lead_id
WHERE q.org_id = %(org)s AND q.lead_id = %(lead)s::uuid
  AND q.lease_expires_at > %(now)s::timestamptz
  AND CASE WHEN %(lease_id)s::uuid IS NULL THEN q.lease_owner = %(owner)s
           ELSE q.lease_id = %(lease_id)s::uuid END
FOR UPDATE OF q
