"""The outbox: events other areas record in their own transaction, delivered as signed webhooks."""
