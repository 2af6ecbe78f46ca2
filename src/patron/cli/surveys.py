"""``patron survey …``: create and list surveys, send a personal invitation, print a report.

Commands parse, call ``patron.care.surveys`` and print; with ``--json`` exactly one document.
A Kano survey's features come from a YAML or JSON file (a list of ``key``, ``name``,
``functional``, ``dysfunctional``, each text per language).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli.output import JSON_OPTION, console, in_session, print_json, runtime, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="NPS, CSAT and Kano surveys: create, send, report.", no_args_is_help=True)


@app.command("create")
def create(
    key: str = typer.Argument(..., help="The survey's key: lower-case letters, digits, - and _."),
    name: str = typer.Option(..., "--name", help="The survey's name, shown to staff."),
    kind: str = typer.Option("nps", "--kind", help="nps, csat or kano."),
    question_de: str = typer.Option("", "--question-de", help="NPS/CSAT: the German question."),
    question_en: str = typer.Option("", "--question-en", help="NPS/CSAT: the English question."),
    question_nb: str = typer.Option("", "--question-nb", help="NPS/CSAT: the Norwegian one."),
    features: Path | None = typer.Option(
        None, "--features", exists=True, dir_okay=False, help="Kano: a YAML or JSON file."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a survey (NPS and CSAT take the built-in question unless given one)."""
    from patron.care.surveys import service
    from patron.db import utcnow

    given = {"de": question_de, "en": question_en, "nb": question_nb}
    question = {k: v for k, v in given.items() if v} or None
    listed = _features(features) if features else None
    made = in_session(
        lambda s: service.create_survey(
            s, key=key, name=name, kind=kind, question=question, features=listed, now=utcnow()
        )
    )
    if json_output:
        print_json(made)
    else:
        console().print(f"Survey [bold]{made.key}[/] ({made.kind}) created.")


def _features(path: Path) -> Any:
    import yaml

    from patron.care.surveys.service import SurveyProblem

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SurveyProblem(
            f"{path.name} is not YAML or JSON: {exc}", details={"field": "features"}
        ) from None


@app.command("list")
def list_surveys(json_output: bool = JSON_OPTION) -> None:
    """Every survey with its status and number of answers."""
    from patron.care.surveys import service

    found = in_session(service.list_surveys)
    if json_output:
        print_json(found)
        return
    shown = table("Surveys", "key", "name", "kind", "status", "answers", right=("answers",))
    for s in found.data:
        shown.add_row(s.key, s.name, s.kind, s.status, str(s.responses))
    console().print(shown)


@app.command("send")
def send(
    key: str = typer.Argument(..., help="The survey's key (nps and csat always exist)."),
    customer: str = typer.Option(..., "--customer", help="External id or number."),
    reference: str = typer.Option(
        ..., "--reference", help="What the customer is asked about: case:12, order:4711, …"
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """E-mail one customer a personal link to the survey (the worker sends it)."""
    from patron.care.surveys import service
    from patron.db import utcnow

    rt = runtime()
    message, created = in_session(
        lambda s: service.invite(
            s,
            survey=key,
            customer=customer,
            reference=reference,
            settings=rt.settings,
            now=utcnow(),
        ),
        rt,
    )
    if json_output:
        print_json({"message": message.model_dump(mode="json"), "created": created})
    elif created:
        console().print(f"Invitation queued to {message.recipient} (message {message.id}).")
    else:
        console().print(f"Already invited: message {message.id} ({message.status}).")


@app.command("report")
def report(
    key: str = typer.Argument(..., help="The survey's key."),
    period: str = typer.Option("month", "--period", help="NPS: week, month or quarter."),
    by: str = typer.Option(
        "", "--by", help="NPS by segment instead: abc, rfm_segment, lifecycle_phase, loyalty_type."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """NPS per period (or by segment), CSAT by case category, or Kano per feature."""
    from patron.care.surveys import reports

    rt = runtime()

    def work(session: Session) -> dict[str, Any]:
        if by:
            found = reports.nps_report(session, by=by, survey=key, timezone=rt.settings.timezone)
            return {"survey": key, "nps_by": found}
        return reports.survey_report(
            session, survey=key, period=period, timezone=rt.settings.timezone
        )

    found = in_session(work, rt)
    if json_output:
        print_json({k: _plain(v) for k, v in found.items()})
        return
    _print_report(found)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _print_report(found: dict[str, Any]) -> None:
    out = console()
    if "nps_by" in found:
        rows, title = [*found["nps_by"].rows, found["nps_by"].overall], "NPS by segment"
    elif "nps" in found:
        rows, title = [*found["nps"], found["nps_overall"]], "NPS per period"
    else:
        rows, title = [], ""
    if title:
        shown = table(
            title,
            "group",
            "n",
            "promoters",
            "passives",
            "detractors",
            "NPS",
            "95 % CI",
            right=("n", "promoters", "passives", "detractors", "NPS"),
        )
        for r in rows:
            ci = f"{_number(r.ci_low)} … {_number(r.ci_high)}" if r.ci_low is not None else "–"
            shown.add_row(
                r.group or "(not scored)",
                str(r.n),
                str(r.promoters),
                str(r.passives),
                str(r.detractors),
                _number(r.nps),
                ci,
            )
        out.print(shown)
    if "csat" in found:
        shown = table(
            "CSAT", "category", "n", "mean", "satisfied", right=("n", "mean", "satisfied")
        )
        for r in [*found["csat_by_category"], found["csat"]]:
            share = "–" if r.share_satisfied is None else f"{r.share_satisfied:.0%}"
            shown.add_row(r.group, str(r.n), _number(r.mean, 2), share)
        out.print(shown)
    if "kano" in found:
        shown = table(
            "Kano",
            "feature",
            "n",
            "A",
            "O",
            "M",
            "I",
            "R",
            "Q",
            "category",
            "better",
            "worse",
            right=("n", "A", "O", "M", "I", "R", "Q", "better", "worse"),
        )
        for r in found["kano"]:
            counts = [str(r.counts[c]) for c in ("A", "O", "M", "I", "R", "Q")]
            shown.add_row(
                r.feature,
                str(r.n),
                *counts,
                r.dominant or "–",
                _number(r.better, 2),
                _number(r.worse, 2),
            )
        out.print(shown)
