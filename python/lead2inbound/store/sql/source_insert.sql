-- A new lead source (sources/store.py create).
INSERT INTO lead_sources (org_id, source_id, name, preset, format, json_field, mapping, options,
                          signature, secrets, key_id, sandbox, rate_limit,
                          success_status)
VALUES (%(org_id)s, %(source_id)s, %(name)s, %(preset)s, %(format)s, %(json_field)s,
        %(mapping)s, %(options)s, %(signature)s, %(secrets)s, %(key_id)s, %(sandbox)s,
        %(rate_limit)s, %(success_status)s)
RETURNING created_at
