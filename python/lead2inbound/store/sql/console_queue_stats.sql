-- The dial queue of one org at a glance: waiting (not leased, or the lease expired), leased
-- now, and the oldest waiting entry.
SELECT count(*) FILTER (WHERE lease_expires_at IS NULL OR lease_expires_at <= %(now)s) AS waiting,
       count(*) FILTER (WHERE lease_expires_at > %(now)s) AS leased,
       min(queued_at) FILTER (WHERE lease_expires_at IS NULL OR lease_expires_at <= %(now)s)
           AS oldest
FROM dial_queue
WHERE org_id = %(org)s
