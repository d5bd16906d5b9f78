"""The HTTP API (FastAPI): `create_app(settings)` in serving.api.app; `ews serve` runs it."""
