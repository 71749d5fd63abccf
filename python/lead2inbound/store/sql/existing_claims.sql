-- For the leads that lost their claim: the lead that holds each phone's window, as it is now.
SELECT c.org_id, c.sandbox, c.phone, l.lead_id, l.status, l.eligible, l.reasons,
       l.phone_valid, l.checks
FROM unnest(%s::uuid[], %s::boolean[], %s::text[]) AS k (org_id, sandbox, phone)
JOIN phone_claims c ON c.org_id = k.org_id AND c.sandbox = k.sandbox AND c.phone = k.phone
JOIN leads l ON l.org_id = c.org_id AND l.lead_id = c.lead_id
