"""Alembic environment: runs on the engine handed over by ``patron.schema``."""

from __future__ import annotations

from alembic import context

import patron.access.models
import patron.analytics.snapshots
import patron.care.models
import patron.customers.models
import patron.demo.models
import patron.engage.models
import patron.loyalty.models
import patron.outbox.models
import patron.portal.models
import patron.privacy.models
import patron.recommend.models
import patron.subscriptions.models  # noqa: F401 - registers the tables on Base.metadata
from patron.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a table by copy, drop and rename. With foreign keys on,
        # SQLite's DROP TABLE deletes the rows first and cascades into the tables that refer
        # to it. The pragma only takes effect outside a transaction, hence before begin().
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
        )
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
