SELECT phone, reason, created_at FROM suppressions WHERE org_id = %(org)s AND phone = %(phone)s
