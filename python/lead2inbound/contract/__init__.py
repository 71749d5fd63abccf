"""The contract: the wire types every layer speaks.

Owns the msgspec Structs that validate requests and describe answers, and from which the
OpenAPI document is generated (`schemas`), and the RFC 9457 problem types and their codes
(`problems`). It imports nothing of the package but ops; everything above may import it.
"""
