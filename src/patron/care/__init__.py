"""Care: complaints and cases with deadlines, surveys, key accounts, tasks and events."""
