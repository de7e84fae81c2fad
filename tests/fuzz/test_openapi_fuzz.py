"""Schemathesis against each service's own OpenAPI document, in process, every check.

Every operation of content, scheduler and feedback gets a bounded number of generated
requests (valid and invalid) with an admin token, checked by every check schemathesis has
(`--checks all`): a 5xx, an undocumented status, a response that does not match the
schema, a schema-violating request accepted (`since=0.5`), a schema-valid request refused
by the request parser (an unknown field the schema allowed), a wrong `Allow` header, ...
fails the test with the request to replay.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from redis.asyncio import Redis
from schemathesis.checks import CHECKS, CheckContext
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mmt.registry import load_service
from shared.access.tokens import Role, issue_token
from shared.crypto import generate_keys
from shared.db import Database
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.settings import (
    SERVICES,
    AccessSettings,
    BusSettings,
    DatabaseSettings,
    ServiceSettings,
    Settings,
)
from tests.conftest import Backends, build_service_app

# Enough to hit every documented status a few times; CI time stays under a minute, and
# CI runs the same examples each time. FUZZ_EXAMPLES=500 digs deeper, with fresh examples.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ


async def _prepare(backends: Backends, prefix: str) -> str:
    """Migrate every schema under `prefix` and return an admin token."""
    for owner in ("access", *SERVICES):
        db = Database(backends.database_url, owner, schema_prefix=prefix, pool_size=2)
        migrations = ACCESS_MIGRATIONS if owner == "access" else load_service(owner).migrations
        try:
            await migrate(db, migrations)
            if owner == "access":
                token = (await issue_token(db, Role("admin"))).token
        finally:
            await db.dispose()
    return token


async def _drop(backends: Backends, prefix: str) -> None:
    for owner in ("access", *SERVICES):
        db = Database(backends.database_url, owner, schema_prefix=prefix)
        await db.drop_schema()
        await db.dispose()
    redis = Redis.from_url(backends.redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{prefix.rstrip('_')}*", count=1000)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture(scope="module")
def fuzz_env(backends: Backends) -> Iterator[tuple[Settings, str]]:
    """One set of schemas for the whole module: migrating per operation would cost minutes."""
    prefix = f"fz{uuid.uuid4().hex[:8]}_"
    monkeypatch = pytest.MonkeyPatch()
    for name, value in generate_keys().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LESSON_LINK_SECRET", "s" * 48)
    try:
        token = asyncio.run(_prepare(backends, prefix))
    except BaseException:
        asyncio.run(_drop(backends, prefix))  # a half-made set of schemas is not left behind
        raise
    settings_ = Settings(
        database=DatabaseSettings(
            database_url=backends.database_url, database_schema_prefix=prefix
        ),
        bus=BusSettings(redis_url=backends.redis_url, bus_prefix=prefix.rstrip("_")),
        access=AccessSettings(token_cache_seconds=60),
        service=ServiceSettings(gc_freeze=False),
    )
    yield settings_, token
    asyncio.run(_drop(backends, prefix))
    monkeypatch.undo()


def _document(name: str) -> dict[str, Any]:
    # The document does not depend on settings; the app under test is built per test below.
    return build_service_app(name, Settings()).openapi_schema.to_schema()


def _load(name: str) -> Any:
    schema = schemathesis.openapi.from_dict(_document(name))
    # NUL in text is refused before any handler (shared/web_input.py; tested in
    # test_hostile_input): generating it would stop most requests at that door.
    schema.config.generation.update(allow_x00=False)
    return schema


content = _load("content")
scheduler = _load("scheduler")
feedback = _load("feedback")

ClientFor = Callable[[str], asgi.ASGIClient]


def domain_refusals_allowed(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """positive_data_acceptance, except for a domain rule JSON Schema cannot say.

    A schema-valid request may still be refused for what only the server knows: an
    unknown IANA time zone or an invalid phone number, a clinic number not enrolled, a
    stigmatising word in a lesson. Such a 400 (or 422) names the rule in `detail` and has
    no `extra`. A 400 from the request parser (msgspec / Litestar: it carries `extra`, the
    fields it refused) means the schema allowed what the parser refuses: a failure.
    """
    try:
        positive_data_acceptance(ctx, response, case)
    except Failure:
        # 422: a well-formed request whose values make no sense together (hours that
        # overlap, an answer out of its question's range), named in `detail`, no `extra`.
        if response.status_code not in (400, 422) or "extra" in _json(response):
            raise


def _json(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# Every check schemathesis has (`--checks all`), the acceptance of valid data as above.
CHECKS_ALL = [check for check in CHECKS.get_all() if check is not positive_data_acceptance] + [
    domain_refusals_allowed
]

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    database=None,  # no .hypothesis folder in the checkout
    deadline=None,
    # client_for is shared by the examples of one operation on purpose (one app each).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture
def client_for(fuzz_env: tuple[Settings, str]) -> Iterator[Callable[[str], asgi.ASGIClient]]:
    """One app per service and test: its lifespan (engines, Redis) ends with the test.

    Not one per example: each app holds database connections until the test ends.
    """
    app_settings, token = fuzz_env
    clients: dict[str, asgi.ASGIClient] = {}

    def client(name: str) -> asgi.ASGIClient:
        if name not in clients:
            clients[name] = asgi.get_client(build_service_app(name, app_settings)).__enter__()
            clients[name].headers["Authorization"] = f"Bearer {token}"
        return clients[name]

    yield client
    for opened in clients.values():
        opened.__exit__(None, None, None)


def _check(case: schemathesis.Case, client: asgi.ASGIClient) -> None:
    case.call_and_validate(session=client, base_url=client.base_url, checks=CHECKS_ALL)


@content.parametrize()
@FUZZ
def test_content_api(case: schemathesis.Case, client_for: ClientFor) -> None:
    _check(case, client_for("content"))


@scheduler.parametrize()
@FUZZ
def test_scheduler_api(case: schemathesis.Case, client_for: ClientFor) -> None:
    _check(case, client_for("scheduler"))


@feedback.parametrize()
@FUZZ
def test_feedback_api(case: schemathesis.Case, client_for: ClientFor) -> None:
    _check(case, client_for("feedback"))
