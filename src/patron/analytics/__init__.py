"""Analytical CRM: per-customer summaries, ABC, RFM, lifetime value and P(alive)."""
