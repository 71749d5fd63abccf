INSERT INTO orgs (org_id, name) VALUES (%s, %s) RETURNING org_id, name, created_at
