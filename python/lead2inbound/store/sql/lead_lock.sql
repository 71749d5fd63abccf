-- One lead of the caller's org, locked for a change (PATCH, erasure) until the transaction ends.
SELECT l.*
FROM leads l
WHERE l.org_id = %(org)s AND l.lead_id = %(lead)s::uuid
FOR UPDATE
