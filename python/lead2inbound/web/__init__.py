"""The web layer: HTTP in and out, and nothing the domain needs.

Owns the Falcon app (`app.create_app`), the per-worker services object that resources receive
(`services.Services`), one module per resource (`resources/`), request reading and problem
answers (`http`), the OpenAPI document and `/docs` (`openapi`, `resources/docs`) and signed
pagination cursors (`cursors`). Inside it, `app` imports `resources`, which import `services`,
which imports neither. It may import every layer below it: dnc, intake, access, dialing, store,
contract and ops. Nothing below imports it.
"""
