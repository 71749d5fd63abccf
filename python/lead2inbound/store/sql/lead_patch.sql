-- A corrected lead's poster fields (intake/corrections.py); a new state's time zones and
-- calling-hours rules when `place` is set. The consent's own decision runs after it.
UPDATE leads
SET source = %(source)s, external_id = %(external_id)s, first_name = %(first_name)s,
    last_name = %(last_name)s, email = %(email)s, state = %(state)s,
    postal_code = %(postal_code)s, city = %(city)s, address = %(address)s,
    consent = %(consent)s::jsonb, attribution = %(attribution)s::jsonb,
    custom_fields = %(custom_fields)s::jsonb,
    timezone = CASE WHEN %(place)s::boolean THEN (%(zones)s::text[])[1] ELSE timezone END,
    timezones = CASE WHEN %(place)s::boolean THEN %(zones)s::text[] ELSE timezones END,
    calling_rules = CASE WHEN %(place)s::boolean THEN %(rules)s::text[] ELSE calling_rules END,
    updated_at = clock_timestamp()
WHERE org_id = %(org)s AND lead_id = %(lead)s::uuid
