"""Alembic environment: runs on the engine handed over by ``patron.schema``."""

from __future__ import annotations

from alembic import context

import patron.customers.models
import patron.demo.models  # noqa: F401 - registers the tables on Base.metadata
from patron.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
