"""JSON routes of engagement under ``/api/v1``: segments, templates, journeys, campaigns, and
messages (the transactional send a shop makes, and the outbox's list).

Campaigns run in the worker when scheduled (or when due, for journeys); ``POST …/run`` runs
one at once. Consent, opt-in and the suppression list are in ``consent_api``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from patron.db import utcnow
from patron.engage import audience, authoring, campaigns, journeys, messages, transactional
from patron.engage.schemas import (
    CampaignCreate,
    CampaignPublic,
    CampaignsPublic,
    FieldPublic,
    MessagePublic,
    MessagesPublic,
    PreviewPublic,
    RunPublic,
    SegmentIn,
    SegmentPreview,
    TemplateIn,
    TemplatePublic,
    TransactionalIn,
)
from patron.errors import PatronError
from patron.web.deps import (
    ApiKeyActorDep,
    SessionDep,
    SettingsDep,
    described_errors,
    error_responses,
    require,
)

router = APIRouter(prefix="/api/v1", tags=["engagement"], responses=error_responses(401, 403))
READ = require("campaigns:read")
WRITE = require("campaigns:write")
INVALID = "The request is invalid (`request.invalid`, `segment.invalid`, `template.invalid`, `campaign.invalid`)."
REPEATED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": MessagePublic,
        "description": "Sent before under this key: the first message, nothing new.",
    }
}
NO_CAMPAIGN = "No campaign with this id or key (`campaign.not_found`)."
CampaignKey = Annotated[str, Path(max_length=64, description="The campaign's id or key.")]
TemplateKey = Annotated[str, Path(max_length=64, description="The template's key.")]


class Invalid(PatronError):
    code = "request.invalid"
    status = 422


def known_campaign(session: SessionDep, campaign: CampaignKey) -> int:
    """The campaign's id; resolved before the query and body, so a wrong key is a 404 first."""
    return campaigns.get(session, campaign).id


def known_template(session: SessionDep, key: TemplateKey) -> str:
    """The template's key, if there is one (404 first, before the query and body)."""
    return authoring.one(session, key).key


KnownCampaign = Annotated[int, Depends(known_campaign)]
KnownTemplate = Annotated[str, Depends(known_template)]


# --- segments --------------------------------------------------------------------------------


@router.get("/segments/fields", response_model=list[FieldPublic], dependencies=[READ])
def segment_fields() -> list[FieldPublic]:
    """The fields a segment may name, with their types and meaning."""
    return [
        FieldPublic(name=f.name, type=f.type.value, meaning=f.description)
        for f in audience.catalogue().values()
    ]


@router.post(
    "/segments/preview",
    response_model=SegmentPreview,
    dependencies=[READ],
    responses=described_errors(
        {400: "The body is not UTF-8 text (`http.bad_request`).", 422: INVALID}
    ),
)
def preview_segment(session: SessionDep, body: SegmentIn) -> SegmentPreview:
    """How many customers a segment holds right now, and the first of them.

    A mistake answers 422 with `segment.invalid` and the column where the expression went
    wrong (`details.column`).
    """
    found = audience.preview(session, text=body.segment, sample=body.sample)
    return SegmentPreview(
        segment=body.segment, count=found.count, sample=found.sample, snapshot_id=found.snapshot_id
    )


# --- templates -------------------------------------------------------------------------------


@router.get("/templates", response_model=list[TemplatePublic], dependencies=[READ])
def list_templates(session: SessionDep) -> list[TemplatePublic]:
    """Every message template, shipped and the shop's own."""
    return authoring.listed(session)


@router.get(
    "/templates/{key}",
    response_model=TemplatePublic,
    dependencies=[READ],
    responses=described_errors(
        {404: "No template with this key (`template.not_found`).", 422: INVALID}
    ),
)
def get_template(session: SessionDep, key: TemplateKey) -> TemplatePublic:
    return authoring.one(session, key)


@router.post(
    "/templates",
    status_code=201,
    response_model=TemplatePublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            409: "A template with this key exists (`template.exists`): change it with PUT.",
            422: INVALID,
        }
    ),
)
def create_template(session: SessionDep, body: TemplateIn) -> TemplatePublic:
    """A new template; it is rendered once with a sample customer first, and a mistake
    answers 422 naming the language and line."""
    return authoring.save(session, body, now=utcnow(), create=True)


@router.put(
    "/templates/{key}",
    response_model=TemplatePublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            404: "No template with this key (`template.not_found`).",
            422: INVALID + " The key in the path and the body must be the same.",
        }
    ),
)
def put_template(session: SessionDep, key: KnownTemplate, body: TemplateIn) -> TemplatePublic:
    """Change a template (shipped ones too); checked like a new one."""
    if body.key != key:
        raise Invalid("the key in the path and in the body differ", details={"field": "key"})
    return authoring.save(session, body, now=utcnow())


@router.get(
    "/templates/{key}/preview",
    response_model=PreviewPublic,
    dependencies=[READ],
    responses=described_errors(
        {
            404: "No such template or customer (`template.not_found`, `customers.not_found`).",
            422: INVALID,
        }
    ),
)
def preview_template(
    session: SessionDep,
    settings: SettingsDep,
    key: KnownTemplate,
    customer: Annotated[str, Query(max_length=200, description="Patron id or external id.")],
) -> PreviewPublic:
    """The message a real customer would get; nothing is queued and no voucher issued."""
    return campaigns.preview(
        session, template_key=key, customer=customer, settings=settings, now=utcnow()
    )


# --- journeys and campaigns --------------------------------------------------------------------


@router.get("/journeys", dependencies=[READ])
def list_journeys() -> list[dict[str, Any]]:
    """The journeys Patron ships; enable one with `POST /journeys/{key}/enable`."""
    return [
        {
            "key": j.key,
            "name": j.name,
            "description": j.description,
            "purpose": j.purpose,
            "template": j.template,
            "settings": dict(j.settings),
        }
        for j in journeys.JOURNEYS.values()
    ]


@router.post(
    "/journeys/{key}/enable",
    status_code=201,
    response_model=CampaignPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            404: "No journey with this key (`campaign.unknown_journey`).",
            409: "The journey is enabled already (`campaign.exists`).",
            422: INVALID,
        }
    ),
)
def enable_journey(
    session: SessionDep,
    actor: ApiKeyActorDep,
    key: Annotated[str, Path(max_length=32)],
) -> CampaignPublic:
    """Switch on a shipped journey with its template and default settings."""
    return campaigns.enable_journey(session, key, actor=actor, now=utcnow())


@router.get("/campaigns", response_model=CampaignsPublic, dependencies=[READ])
def list_campaigns(
    session: SessionDep,
    status: Annotated[
        str | None,
        Query(pattern="^(draft|scheduled|active|paused|done|cancelled)$"),
    ] = None,
) -> CampaignsPublic:
    """Every campaign, newest first, with its members per group and messages per status."""
    return campaigns.list_campaigns(session, status=status)


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            409: "A campaign with this key exists (`campaign.exists`).",
            422: INVALID,
        }
    ),
)
def create_campaign(
    session: SessionDep, actor: ApiKeyActorDep, body: CampaignCreate
) -> CampaignPublic:
    """A one-off campaign (a draft, or scheduled with `scheduled_at`) or a journey.

    The segment is checked, the templates must exist; the holdout share is drawn per customer
    from the campaign's key, so the same customer is always in the same group.
    """
    return campaigns.create(session, body, actor=actor, now=utcnow())


@router.get(
    "/campaigns/{campaign}",
    response_model=CampaignPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_CAMPAIGN, 422: INVALID}),
)
def get_campaign(session: SessionDep, campaign: CampaignKey) -> CampaignPublic:
    return campaigns.public(session, campaigns.get(session, campaign))


@router.post(
    "/campaigns/{campaign}/run",
    response_model=RunPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {404: NO_CAMPAIGN, 409: "The campaign does not run in its status.", 422: INVALID}
    ),
)
def run_campaign(session: SessionDep, settings: SettingsDep, campaign: CampaignKey) -> RunPublic:
    """Run a campaign now: leave out the control group and the unreachable, draw the holdout,
    render and queue. Running again queues nobody twice."""
    found = campaigns.get(session, campaign)
    return campaigns.run(session, found.id, settings=settings, now=utcnow())


@router.post(
    "/campaigns/{campaign}/schedule",
    response_model=CampaignPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            404: NO_CAMPAIGN,
            409: "Not a one-off, or not in a status that can be scheduled.",
            422: INVALID,
        }
    ),
)
def schedule_campaign(
    session: SessionDep,
    campaign_id: KnownCampaign,
    at: Annotated[datetime, Body(embed=True, description="When to send (with a time zone).")],
) -> CampaignPublic:
    if at.tzinfo is None:
        raise Invalid(
            "give the time with its offset, e.g. 2027-01-05T09:00:00+01:00",
            details={"field": "at"},
        )
    return campaigns.schedule(session, campaign_id, at=at)


def _transition(name: str, doc: str) -> None:
    @router.post(
        f"/campaigns/{{campaign}}/{name}",
        response_model=CampaignPublic,
        dependencies=[WRITE],
        responses=described_errors(
            {404: NO_CAMPAIGN, 409: f"The campaign cannot be {name}d in its status.", 422: INVALID}
        ),
        name=f"{name}_campaign",
        description=doc,
    )
    def transition(session: SessionDep, campaign: CampaignKey) -> CampaignPublic:
        found = campaigns.get(session, campaign)
        if name == "cancel":
            return campaigns.cancel(session, found.id, now=utcnow())
        changed: CampaignPublic = getattr(campaigns, name)(session, found.id)
        return changed


_transition("pause", "Pause: no new run, and its queued messages wait.")
_transition("resume", "Resume a paused campaign.")
_transition("cancel", "Cancel for good; its queued messages are cancelled.")


# --- messages ----------------------------------------------------------------------------------


@router.get(
    "/messages",
    response_model=MessagesPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_CAMPAIGN, 422: INVALID}),
)
def list_messages(
    session: SessionDep,
    campaign: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(queued|sent|bounced|cancelled|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> MessagesPublic:
    """The newest messages, of one campaign or status if asked."""
    campaign_id = campaigns.get(session, campaign).id if campaign else None
    return messages.listed(session, campaign_id=campaign_id, status=status, limit=limit)


@router.post(
    "/messages",
    status_code=201,
    response_model=MessagePublic,
    dependencies=[WRITE],
    responses=REPEATED
    | described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            404: "No such customer or template (`customers.not_found`, `template.not_found`).",
            409: "The customer has no usable address on the channel (`message.unreachable`).",
            422: INVALID,
        }
    ),
)
def send_transactional(
    session: SessionDep, settings: SettingsDep, body: TransactionalIn, response: Response
) -> MessagePublic:
    """Queue a transactional message (an order confirmation, a delivery notice) to one
    customer. It needs no marketing consent and is not paced; a suppressed address is refused.
    The same `key` again answers 200 with the first message and queues nothing."""
    message, created = transactional.send(
        session,
        customer=body.customer,
        template_key=body.template,
        channel=body.channel.value,
        key=body.key,
        variables=body.variables,
        settings=settings,
        now=utcnow(),
    )
    if not created:
        response.status_code = 200
    return message
