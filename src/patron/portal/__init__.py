"""The customers' own site: sign-in by e-mailed link, points, tiers, rewards, subscriptions, cases, data."""
