"""Engagement: segments, campaigns, holdout groups and the uplift they measure."""
