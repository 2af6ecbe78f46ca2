"""``patron worker`` runs the loyalty upkeep, then posts the webhooks it queued, in one round."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from loyalty.shop import demo_document, purchase
from patron.cli import app
from patron.customers.models import Customer
from patron.db import make_engine, session_factory, utcnow
from patron.loyalty import reading, service, setup
from patron.loyalty.programme import read_spec
from patron.outbox.models import WebhookDelivery

runner = CliRunner(env={"COLUMNS": "200"})


def test_a_worker_round_vests_expires_and_queues_the_webhooks(cli_env: str) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    long_ago = utcnow() - timedelta(days=800)  # earned more than 24 months ago: due to expire
    with sessions() as session:
        session.add_all([Customer(external_id="W1", name="Old"), Customer(external_id="W2")])
        session.commit()
        setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=long_ago)
        added = runner.invoke(
            app, ["webhooks", "add", "http://127.0.0.1:9/hook", "--topic", "points.*", "--json"]
        )
        assert added.exit_code != 0  # topics are exact names or "*": the typo is refused
        added = runner.invoke(
            app, ["webhooks", "add", "http://127.0.0.1:9/hook", "--topic", "points.expired"]
        )
        assert added.exit_code == 0, added.output
        service.record_purchase(
            session,
            programme_code="club",
            key="old",
            purchase=purchase("W1", "OLD-1", "100"),
            actor=None,
            now=long_ago,
        )
        service.record_purchase(
            session,
            programme_code="club",
            key="new",
            purchase=purchase("W2", "NEW-1", "100"),
            actor=None,
            now=utcnow() - timedelta(days=20),
        )
    ran = runner.invoke(app, ["worker", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "loyalty:" in ran.output
    assert "4 lots_vested" in ran.output
    assert "200 points_expired" in ran.output
    with sessions() as session:
        now = utcnow()
        assert reading.balance(session, programme_code="club", customer="W1", now=now).balance == 0
        assert (
            reading.balance(session, programme_code="club", customer="W2", now=now).available == 200
        )
        deliveries = session.query(WebhookDelivery).count()
        assert deliveries == 1  # points.expired went to the endpoint (which is down: retried)
    again = runner.invoke(app, ["worker", "--once"])
    assert "points_expired" not in again.output
    assert "lots_vested" not in again.output
    listed = json.loads(runner.invoke(app, ["webhooks", "deliveries", "--json"]).stdout)
    assert listed["data"][0]["attempts"] >= 1
    engine.dispose()
