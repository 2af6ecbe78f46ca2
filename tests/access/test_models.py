"""The customers' tables can be used without anyone having loaded the access area first."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_customer_models_registers_the_users_table() -> None:
    """customers.account_manager_id refers to users.id: a flush needs ``users`` on the metadata."""
    probe = (
        "import patron.customers.models; from patron.db import Base; "
        "print('users' in Base.metadata.tables)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "True"
