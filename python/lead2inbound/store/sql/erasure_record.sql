-- The record of an erasure: the org's proof that it honoured the request.
INSERT INTO erasures (org_id, erasure_id, phone_digest, phone, requested_by, leads_erased)
VALUES (%(org)s, %(id)s::uuid, %(digest)s, %(phone)s, %(by)s, %(leads)s)
RETURNING erasure_id, leads_erased, requested_at, requested_by
