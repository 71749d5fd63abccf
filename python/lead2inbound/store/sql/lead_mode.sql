-- Whether a lead of the caller's org is a sandbox lead (NULL row: no such lead).
SELECT sandbox FROM leads WHERE org_id = %(org)s AND lead_id = %(lead)s::uuid
