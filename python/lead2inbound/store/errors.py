"""What the store raises to the layers above: Postgres could not take a write."""


class StoreUnavailable(Exception):
    """Postgres could not take the write; nothing of the batch was committed (answered 503)."""
