"""The console: server-rendered pages for an org's people (docs/console.md).

Pages call the same functions as the API resources (listing leads, creating and revoking keys);
the gate (gate.py) turns a session cookie into the org, checks CSRF on every state change and
sets the security headers; templates (Jinja2, autoescaped) and static files live beside it.
"""
