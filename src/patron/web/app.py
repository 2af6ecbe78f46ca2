"""The web side's one composition root: settings in, a ready FastAPI app out.

The engine is built here (or handed in by a test) and nowhere else; an app on a database whose
schema is not at head refuses to start, naming the command that fixes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from patron import __version__, schema
from patron.access import pages as access_pages
from patron.analytics import api as analytics_api
from patron.analytics import pages as analytics_pages
from patron.care.accounts import api as accounts_api
from patron.care.accounts import pages as accounts_pages
from patron.care.accounts import rsvp as accounts_rsvp
from patron.care.cases import api as cases_api
from patron.care.cases import pages as cases_pages
from patron.care.surveys import api as surveys_api
from patron.care.surveys import pages as surveys_pages
from patron.care.surveys import public as surveys_public
from patron.config import DEFAULT_SECRET_KEY, Environment, Settings, load_settings
from patron.customers import api as customers_api
from patron.customers import pages as customers_pages
from patron.dashboard import pages as dashboard_pages
from patron.db import make_engine, session_factory
from patron.engage import api as engage_api
from patron.engage import consent_api as engage_consent_api
from patron.engage import pages as engage_pages
from patron.engage import public as engage_public
from patron.engage import report_pages as engage_report_pages
from patron.errors import ConfigError
from patron.loyalty import api as loyalty_api
from patron.loyalty import pages as loyalty_pages
from patron.portal import pages as portal_pages
from patron.privacy import api as privacy_api
from patron.privacy import pages as privacy_pages
from patron.recommend import api as recommend_api
from patron.recommend import pages as recommend_pages
from patron.subscriptions import api as subscriptions_api
from patron.subscriptions import delivery_api as subscriptions_delivery_api
from patron.subscriptions import pages as subscriptions_pages
from patron.subscriptions import report_api as subscriptions_report_api
from patron.web import errors, vendor
from patron.web import pages as shell_pages
from patron.web.deps import public
from patron.web.rendering import NavItem, Pages, SectionSource
from patron.web.security import SecurityHeaders

# What each area contributes: its routers (JSON API and pages), its templates, its menu entries,
# and the sections it adds to other areas' pages (which may not import it: see SectionSource).
AREA_ROUTERS: tuple[APIRouter, ...] = (
    customers_api.router,
    analytics_api.router,
    loyalty_api.router,
    recommend_api.router,
    engage_api.router,
    engage_consent_api.router,
    cases_api.router,
    surveys_api.router,
    accounts_api.router,
    subscriptions_api.router,
    subscriptions_delivery_api.router,
    subscriptions_report_api.router,
    privacy_api.router,
    dashboard_pages.router,
    analytics_pages.router,
    customers_pages.router,
    loyalty_pages.router,
    recommend_pages.router,
    engage_pages.router,
    engage_report_pages.router,
    engage_public.router,
    cases_pages.router,
    surveys_pages.router,
    surveys_public.router,
    accounts_pages.router,
    accounts_rsvp.router,
    subscriptions_pages.router,
    privacy_pages.router,
    portal_pages.router,
    access_pages.router,
)
AREA_TEMPLATES: tuple[Path, ...] = (
    dashboard_pages.TEMPLATES,
    analytics_pages.TEMPLATES,
    customers_pages.TEMPLATES,
    loyalty_pages.TEMPLATES,
    recommend_pages.TEMPLATES,
    engage_pages.TEMPLATES,
    cases_pages.TEMPLATES,
    surveys_pages.TEMPLATES,
    accounts_pages.TEMPLATES,
    subscriptions_pages.TEMPLATES,
    privacy_pages.TEMPLATES,
    access_pages.TEMPLATES,
)
AREA_NAV: tuple[NavItem, ...] = (
    *dashboard_pages.NAV,
    *analytics_pages.NAV,
    *customers_pages.NAV,
    *loyalty_pages.NAV,
    *recommend_pages.NAV,
    *engage_pages.NAV,
    *cases_pages.NAV,
    *surveys_pages.NAV,
    *accounts_pages.NAV,
    *subscriptions_pages.NAV,
    *privacy_pages.NAV,
    *access_pages.NAV,
)
AREA_SECTIONS: tuple[SectionSource, ...] = (
    *analytics_pages.SECTIONS,
    *loyalty_pages.SECTIONS,
    *recommend_pages.SECTIONS,
    *engage_pages.SECTIONS,
    *cases_pages.SECTIONS,
    *surveys_pages.SECTIONS,
    *accounts_pages.SECTIONS,
    *subscriptions_pages.SECTIONS,
    *privacy_pages.SECTIONS,
)
VENDOR = "/vendor"
DOCS_ASSETS = "/docs/assets"
STATIC = "/static"
OPENAPI_URL = "/openapi.json"

DESCRIPTION = (
    "Patron's JSON API: the customer knowledge store. Every error has the shape "
    '`{"error": {"code", "message", "details"}}` with a stable `code`.'
)


class HealthPublic(BaseModel):
    """``ok`` when the database answers and its schema is the one this Patron needs."""

    status: str
    version: str
    schema_revision: str | None


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """Build the app on ``settings``; a given ``engine`` is used instead, and left open."""
    _refuse_default_secret(settings)
    owns_engine = engine is None
    engine = make_engine(settings.database_url) if engine is None else engine
    try:
        schema.ensure_current(engine)
    except Exception:
        if owns_engine:
            engine.dispose()
        raise
    app = FastAPI(
        title="Patron",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(engine, dispose=owns_engine),
        docs_url=None,  # FastAPI's own pages load Swagger UI from a CDN; ours work offline
        redoc_url=None,
        openapi_url=None,  # served by our own route below, which declares itself public
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.pages = Pages(settings, AREA_TEMPLATES, AREA_NAV, AREA_SECTIONS)
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(health_router)
    app.include_router(shell_pages.router)
    app.include_router(vendor_router)
    for router in AREA_ROUTERS:
        app.include_router(router)
    _mount_docs(app)
    return app


def app_from_environment() -> FastAPI:
    """The app on settings read from the environment: what each ``patron serve --workers N``
    process builds for itself."""
    return create_app(load_settings())


def _refuse_default_secret(settings: Settings) -> None:
    """The web app keys sign-in forms with the secret: a default one is allowed only in a demo
    or a test, never where real customers' data is served."""
    if settings.secret_key == DEFAULT_SECRET_KEY and settings.environment not in (
        Environment.demo,
        Environment.test,
    ):
        raise ConfigError(
            "PATRON_SECRET_KEY is the built-in default; the web app serves real data only with "
            "a secret of your own, e.g. PATRON_SECRET_KEY=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') (only `patron demo` runs without one)",
            code="config.default_secret",
            details={"variable": "PATRON_SECRET_KEY", "environment": settings.environment.value},
        )


def _mount_docs(app: FastAPI) -> None:
    """Interactive API docs at ``/docs``, with Swagger UI served from its Python package.

    The mounted assets are static files, public like the pages that use them.
    """
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=[public()])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[public()])
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(_docs_page(request.scope.get("root_path", "")))


def _docs_page(root: str) -> str:
    """Swagger UI's page without inline script (its start-up code is static/swagger-init.js)."""
    assets = f"{root}{DOCS_ASSETS}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Patron API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}{OPENAPI_URL}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}{STATIC}/swagger-init.js"></script>
</body>
</html>
"""


def _lifespan(
    engine: Engine, *, dispose: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        vendor.warm_up()
        yield
        if dispose:
            engine.dispose()

    return lifespan


health_router = APIRouter(tags=["health"])
vendor_router = APIRouter(prefix=VENDOR, include_in_schema=False)


@vendor_router.get("/vega.js", dependencies=[public()])
def vega_script(request: Request) -> Response:
    """Vega, Vega-Lite and Vega-Embed in one script, from the vl-convert package."""
    etag = f'"{vendor.vega_etag()}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(vendor.vega_bundle(), media_type="text/javascript", headers=headers)


@health_router.get(
    "/health",
    response_model=HealthPublic,
    dependencies=[public()],
    responses={
        503: {"model": HealthPublic, "description": "The database is unreachable or outdated."}
    },
)
def health(request: Request, response: Response) -> HealthPublic:
    """Whether the app can serve: the database answers and its schema is current (else 503)."""
    try:
        revision = schema.current_revision(request.app.state.engine)
    except SQLAlchemyError:
        response.status_code = 503
        return HealthPublic(status="unavailable", version=__version__, schema_revision=None)
    if revision != schema.head_revision():
        response.status_code = 503
        return HealthPublic(status="outdated", version=__version__, schema_revision=revision)
    return HealthPublic(status="ok", version=__version__, schema_revision=revision)
