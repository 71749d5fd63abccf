-- A suppression takes effect at once: the org's leads for these numbers still waiting in the
-- dial queue (not leased, or their lease expired) leave it in the suppression's transaction,
-- as ineligible with reason `suppressed`. A row a claimer has locked is waited for; if that
-- claim commits, the lead was handed out before the suppression committed.
WITH gone AS (
    DELETE FROM dial_queue q
    WHERE q.org_id = %(org)s AND q.phone = ANY (%(phones)s::text[])
      AND (q.lease_expires_at IS NULL OR q.lease_expires_at <= %(now)s::timestamptz)
      AND EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = q.org_id AND s.phone = q.phone)
    RETURNING q.lead_id
)
UPDATE leads l
SET status = 'ineligible',
    eligible = false,
    reasons = CASE WHEN 'suppressed' = ANY (l.reasons) THEN l.reasons
                   ELSE l.reasons || ARRAY['suppressed'] END,
    checks = l.checks || '{"suppression": "hit"}'::jsonb,
    updated_at = now()
FROM gone
WHERE l.org_id = %(org)s AND l.lead_id = gone.lead_id
RETURNING l.lead_id
