"""The worker process of the crash test (``test_crash.py``): sends due messages until killed.

It reads PATRON_DATABASE_URL and PATRON_SMTP_* like ``patron worker``, but holds its leases
for LEASE seconds instead of 15 minutes, so that a restarted worker takes over what a killed
one held within seconds. It prints ``ready`` once it is about to send, so the test kills it
while it works rather than while Python starts.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from patron.config import load_settings
from patron.db import make_engine, session_factory, utcnow
from patron.engage import sending
from patron.engage.channels import SmtpChannel

LEASE = timedelta(seconds=4)
TIMEOUT = 2.0  # seconds for one SMTP command: the sink is on this machine
BATCH = 50


def main() -> None:
    settings = load_settings()
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    channels = {"email": SmtpChannel(settings, timeout=TIMEOUT)}
    print("ready", flush=True)
    while True:
        run = sending.send_due(
            sessions, settings, now_fn=utcnow, batch=BATCH, channels=channels, lease=LEASE
        )
        if run.handled == 0:
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
