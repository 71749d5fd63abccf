DELETE FROM suppressions WHERE org_id = %(org)s AND phone = %(phone)s RETURNING phone
