"""Subscriptions and delivery contracts: rhythm, due deliveries, contract terms, reports."""
