"""The `l2i` command line: serve, migrate, keys, orgs, suppressions, DNC connections.

An entry point, like `lead2inbound.asgi`: it may import every layer and nothing imports it.
`main` is the console script; `common` holds the helpers its commands share; `dnc` the
`l2i dnc ...` group.
"""

from lead2inbound.cli.main import main

__all__ = ["main"]
