"""HTTP: ``create_app(settings)``, the native ``/v1`` API, auth and problem+json errors."""
