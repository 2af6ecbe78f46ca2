"""The customer knowledge store: customers, products, orders, returns, interactions, consents."""
