-- An erased number holds no duplicate window: its next post is a new lead (stored suppressed).
DELETE FROM phone_claims WHERE org_id = %(org)s AND phone = ANY (%(phones)s::text[])
