-- The keyset position of one of the caller's leads (a plain lead id given as `starting_after`).
SELECT created_at, lead_id FROM leads WHERE org_id = %(org)s AND lead_id = %(lead)s::uuid
