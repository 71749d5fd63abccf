"""Shared test infrastructure: store handles, a real Granian server process, helpers."""

from lead2inbound.ops.embedded import free_port

__all__ = ["free_port"]
