"""The web app: Flask server with the Dash pages on it (see dashboard.app.create_app)."""
