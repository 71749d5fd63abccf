"""The ASGI entry point Granian serves: `lead2inbound.asgi:app`."""

from lead2inbound.web.app import create_app, served

app = served(create_app())
