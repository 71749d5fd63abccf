-- Give leads new consent evidence and decide them again (docs/intake.md, "Consent that arrives
-- later"; PATCH of `consent`). The consent reasons are replaced by the new evidence's own, the
-- suppression list is checked again (a hit is kept: nothing here un-suppresses), every other
-- reason stays; eligible live leads enter the dial queue, leads no longer eligible leave it
-- (unless leased), and listeners are notified once.
--
-- `held_only`: only leads held for consent alone (ineligible, every reason a consent reason),
-- which is what a duplicate post may change. The leads are locked: among concurrent posts for
-- one lead, the first to commit changes it and the others, re-reading the row after the lock,
-- find it no longer held and change nothing.
WITH input AS (
    SELECT *
    FROM unnest(%(orgs)s::uuid[], %(leads)s::uuid[], %(consents)s::jsonb[],
                %(checks)s::text[], %(reasons)s::text[])
         AS t (org_id, lead_id, consent, consent_check, consent_reason)
),
target AS (
    SELECT l.org_id, l.lead_id, l.phone, l.sandbox, i.consent, i.consent_check,
           EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = l.org_id AND s.phone = l.phone)
               OR 'suppressed' = ANY (l.reasons) AS suppressed,
           array_remove(array_remove(array_remove(l.reasons, 'missing_consent'),
                                     'invalid_consent'), 'suppressed')
           || CASE WHEN i.consent_reason IS NULL THEN ARRAY[]::text[]
                   ELSE ARRAY[i.consent_reason] END AS kept
    FROM input i JOIN leads l ON l.org_id = i.org_id AND l.lead_id = i.lead_id
    WHERE l.status IN ('new', 'ineligible', 'pending_scrub')
      AND l.erased_at IS NULL
      AND (NOT %(held_only)s::boolean
           OR (l.status = 'ineligible' AND cardinality(l.reasons) > 0
               AND l.reasons <@ ARRAY['missing_consent', 'invalid_consent']))
    ORDER BY l.org_id, l.lead_id
    FOR UPDATE OF l
),
decided AS (
    SELECT t.*,
           CASE WHEN t.suppressed THEN ARRAY['suppressed'] ELSE ARRAY[]::text[] END || t.kept
               AS reasons
    FROM target t
),
updated AS (
    UPDATE leads l
    SET consent = d.consent,
        reasons = d.reasons,
        eligible = cardinality(d.reasons) = 0,
        status = CASE WHEN cardinality(d.reasons) = 0 THEN 'new'
                      WHEN d.reasons = ARRAY['dnc_unavailable'] THEN 'pending_scrub'
                      ELSE 'ineligible' END,
        checks = l.checks || jsonb_build_object(
            'consent', d.consent_check,
            'suppression', CASE WHEN d.suppressed THEN 'hit' ELSE 'clear' END),
        updated_at = clock_timestamp()
    FROM decided d
    WHERE l.org_id = d.org_id AND l.lead_id = d.lead_id
    RETURNING l.org_id, l.lead_id, l.phone, l.sandbox, l.status, l.eligible, l.reasons,
              l.checks, l.phone_valid
),
queued AS (
    INSERT INTO dial_queue (org_id, lead_id, phone)
    SELECT org_id, lead_id, phone FROM updated WHERE eligible AND NOT sandbox
    ORDER BY org_id, lead_id
    ON CONFLICT DO NOTHING
    RETURNING lead_id
),
dequeued AS (
    DELETE FROM dial_queue q USING updated u
    WHERE q.org_id = u.org_id AND q.lead_id = u.lead_id AND NOT u.eligible
      AND q.lease_expires_at IS NULL
    RETURNING q.lead_id
),
notified AS (
    SELECT count(*) AS n,
           CASE WHEN count(*) > 0
                THEN pg_notify('l2i_dial_queue', json_build_object('queued', count(*))::text)::text
           END AS sent
    FROM queued
)
SELECT u.lead_id, u.status, u.eligible, u.reasons, u.checks, u.phone_valid, EXISTS (SELECT 1 FROM queued x WHERE x.lead_id = u.lead_id) AS queued,
       (SELECT count(*) FROM dequeued) AS dequeued
FROM updated u, notified n
