"""lead2inbound intake: the front door of a lead-to-call pipeline."""

__version__ = "0.1.0"
