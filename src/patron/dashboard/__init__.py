"""The dashboard: the overview a user sees after signing in, with the store's key figures."""
