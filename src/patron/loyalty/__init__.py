"""Loyalty programme engine: the points ledger (lots, allocations, expiry), later rules and tiers."""
