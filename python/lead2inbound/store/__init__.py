"""The store: Postgres plumbing shared by every layer that speaks SQL.

Owns the schema migrations (`migrate`, `migrations/`), the SQL statements kept as files and
loaded once (`queries`, `sql/`) and the org's suppression list (`suppressions`). The statements
that write leads are here; the writer that batches them is intake's. It may import contract and
ops only.
"""
