-- Store one call attempt (attempt_no: the lead's count including this one).
INSERT INTO dial_attempts (org_id, lead_id, attempt_no, phone, result, at, duration_s, dialer,
                           outcome, api_key_id, recorded_at)
VALUES (%(org)s, %(lead)s::uuid, %(attempts)s, %(phone)s, %(result)s, %(at)s, %(duration)s,
        %(dialer)s, %(outcome)s, %(owner)s, %(now)s)
