"""Who may do what: staff users with roles, API keys with scopes, and the permission table."""
