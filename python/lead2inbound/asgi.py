"""The ASGI entry point Granian serves: `lead2inbound.asgi:app`."""

from lead2inbound.web.app import create_asgi_app

app = create_asgi_app()
