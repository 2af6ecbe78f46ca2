"""The web app: JSON API and dashboard, composed by ``create_app``."""
