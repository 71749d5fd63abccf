-- The record a reduced lead keeps (the SET list of erase_leads.sql and retention_purge.sql,
-- which write `{{lead_reduced}}` where it goes, after their own reasons): no personal values;
-- with `keep_proof` the E.164 number, the consent evidence a TCPA claim needs (less the IP
-- address and user agent) and the scrub evidence stay, without it they go too. A lead still
-- before its call ends ineligible.
phone_raw = '', phone_extension = NULL, external_id = NULL,
first_name = NULL, last_name = NULL, email = NULL, state = NULL, postal_code = NULL,
city = NULL, address = NULL, attribution = NULL, custom_fields = NULL,
consent = CASE WHEN %(keep_proof)s::boolean AND l.consent IS NOT NULL
               THEN l.consent - 'ip_address' - 'user_agent' END,
phone = CASE WHEN %(keep_proof)s::boolean THEN l.phone ELSE '' END,
phone_region = CASE WHEN %(keep_proof)s::boolean THEN l.phone_region END,
dnc_evidence = CASE WHEN %(keep_proof)s::boolean THEN l.dnc_evidence END,
status = CASE WHEN l.status IN ('new', 'dialing', 'pending_scrub', 'ineligible')
              THEN 'ineligible' ELSE l.status END,
eligible = false,
erased_at = now(),
updated_at = clock_timestamp()
