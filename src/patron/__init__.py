"""Patron: a customer-retention platform (know, keep, talk to and serve existing customers)."""

__version__ = "0.1.0"
