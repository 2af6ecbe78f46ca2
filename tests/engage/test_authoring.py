"""Saving a template: it is checked in every language before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.engage import authoring, context
from patron.engage.models import MessageTemplate
from patron.engage.rendering import TemplateProblem
from patron.engage.schemas import TemplateIn
from patron.recommend import service as recommending
from recommend import pasta_shop

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _request(body: str, *, purpose: str = "marketing", subject: str = "Hi") -> TemplateIn:
    return TemplateIn.model_validate(
        {
            "key": "mine",
            "name": "Mine",
            "purpose": purpose,
            "subjects": {"en": subject, "de": "Hallo"},
            "bodies": {"en": body, "de": "<p>{{ salutation }}</p>"},
        }
    )


def _stored(sessions: sessionmaker[Session]) -> dict[str, str] | None:
    with sessions() as session:
        return session.scalar(select(MessageTemplate.bodies).where(MessageTemplate.key == "mine"))


def test_a_marketing_template_with_an_unknown_variable_is_refused_and_nothing_changes(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        authoring.save(session, _request("<p>{{ salutation }}</p>"), now=NOW)
    with sessions() as session, pytest.raises(TemplateProblem) as refused:
        authoring.save(session, _request("<p>{{ custmer.name }}</p>"), now=NOW)
    assert "body in en: unknown variable 'custmer' (did you mean 'customer'?)" in str(refused.value)
    assert refused.value.details == {"field": "bodies", "language": "en", "variable": "custmer"}
    with sessions() as session, pytest.raises(TemplateProblem) as refused:
        authoring.save(session, _request("<p>{{ tracking_url }}</p>"), now=NOW)
    assert "unknown variable 'tracking_url'." in str(refused.value)
    with sessions() as session, pytest.raises(TemplateProblem) as refused:
        authoring.save(session, _request("<p>x</p>", subject="{{ shp.name }}"), now=NOW)
    assert refused.value.details["field"] == "subjects"
    assert _stored(sessions) == {"en": "<p>{{ salutation }}</p>", "de": "<p>{{ salutation }}</p>"}


def test_a_transactional_template_may_use_the_shops_own_variables_but_not_a_misspelt_known_one(
    sessions: sessionmaker[Session],
) -> None:
    own = "<p>{{ salutation }}, track it here: {{ tracking_url }} ({{ order.number }})</p>"
    with sessions() as session:
        saved = authoring.save(session, _request(own, purpose="transactional"), now=NOW)
    assert saved.variables == ["order", "salutation", "tracking_url"]
    with sessions() as session, pytest.raises(TemplateProblem, match="did you mean 'voucher'"):
        authoring.save(
            session, _request("<p>{{ vouchr.code }}</p>", purpose="transactional"), now=NOW
        )
    assert _stored(sessions) == {"en": own, "de": "<p>{{ salutation }}</p>"}


def test_occasion_variables_render_as_stand_ins_in_an_html_body(
    sessions: sessionmaker[Session],
) -> None:
    body = (
        "<p>{{ order.number }} {{ product.name }} {{ event }} {% for b in benefits %}{% endfor %}"
    )
    with sessions() as session:
        saved = authoring.save(session, _request(body + "</p>"), now=NOW)
    assert saved.variables == ["benefits", "event", "order", "product", "salutation"]


def _every_key(values: dict[str, Any]) -> str:
    """A body that shows every key of a real context: each variable, each key of a mapping,
    each key of a list's items."""
    parts = []
    for name, value in sorted(values.items()):
        if isinstance(value, dict):
            parts += [f"{{{{ {name}.{key} }}}}" for key in sorted(value)]
        elif isinstance(value, list):
            shown = " ".join(f"{{{{ item.{key} }}}}" for key in sorted(value[0]))
            parts.append(f"{{% for item in {name} %}}{shown}{{% endfor %}}")
        else:
            parts.append(f"{{{{ {name} }}}}")
    return "<p>" + " ".join(parts) + "</p>"


def test_the_sample_has_exactly_the_keys_of_a_real_message_so_each_renders_on_save(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    shop = pasta_shop.build(sessions, now)
    recommending.fit(engine, now=now)
    anna = shop.customers["ANNA"]
    with sessions() as session:
        real = context.contexts(
            session,
            [anna],
            needs=frozenset({"recommended", *context.LOYALTY}),
            settings=Settings(_env_file=None, currency="NOK"),  # type: ignore[call-arg]
            now=now,
            channel="email",
            purpose="marketing",
        )[anna]
    assert real["recommended"], "the pasta buyer is offered the sauce"
    assert set(authoring.SAMPLE["shop"]) == set(real["shop"])
    for item in authoring.SAMPLE["recommended"]:
        assert set(item) == set(real["recommended"][0])
    body = _every_key(real)
    assert "{{ shop.currency }}" in body
    assert "{{ item.partner_name }}" in body
    with sessions() as session:
        saved = authoring.save(session, _request(body), now=NOW)
    assert set(saved.variables) == set(real)
    # a key real recommendations lack is refused when saved, not when ten thousand are sent
    lacking = "<p>{% for item in recommended %}{{ item.reason }}{% endfor %}</p>"
    with sessions() as session, pytest.raises(TemplateProblem, match="reason"):
        authoring.save(session, _request(lacking), now=NOW)
    assert _stored(sessions) == {"en": body, "de": "<p>{{ salutation }}</p>"}
