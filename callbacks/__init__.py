"""Page callbacks, one module per page, each exposing register(app)."""
