-- Does the phone already hold a live duplicate claim (a lead inside the org's window)? Then the
-- lead is a duplicate and costs no paid scrub. The writer's claim stays the authority.
SELECT EXISTS (
    SELECT 1
    FROM phone_claims c
    JOIN orgs o ON o.org_id = c.org_id
    JOIN leads l ON l.org_id = c.org_id AND l.lead_id = c.lead_id
    WHERE c.org_id = %s AND c.sandbox = %s AND c.phone = %s
      AND c.claimed_at > now() - make_interval(days => o.dedupe_window_days)
      AND l.created_at > now() - make_interval(days => o.dedupe_window_days)
)
