-- A leadgen notification, kept until its lead is written; a second notification of the same
-- leadgen id is the same row (nothing fetched twice by the retrier).
INSERT INTO facebook_leads (org_id, leadgen_id, source_id, notification)
VALUES (%(org_id)s, %(leadgen_id)s, %(source_id)s, %(notification)s)
ON CONFLICT (org_id, leadgen_id) DO NOTHING
RETURNING leadgen_id
