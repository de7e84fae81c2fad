"""Every service's app: health, readiness, metrics, OpenAPI, bad input, the probe route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mmt.registry import load_service
from shared.db import Database
from shared.migrate import migrate
from shared.settings import SERVICES, BusSettings, Settings
from tests.conftest import Backends, TokenFactory, build_service_app, free_port


@pytest.fixture(params=SERVICES)
async def client(
    request: pytest.FixtureRequest,
    backends: Backends,
    isolation: str,
    app_settings: Settings,
    access_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    name = request.param
    db = Database(backends.database_url, name, schema_prefix=isolation)
    await migrate(db, load_service(name).migrations)
    admin = await make_token("admin")
    async with AsyncTestClient(app=build_service_app(name, app_settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin}"
        yield test_client
    await db.drop_schema()
    await db.dispose()


async def test_health_ready_schema_and_metrics(client: AsyncTestClient[Litestar]) -> None:
    del client.headers["Authorization"]  # all of these are open
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}

    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/bus-probes" in schema["paths"]
    assert "/health" in schema["paths"]
    docs = await client.get("/schema")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]

    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "requests_total" in metrics.text


async def test_probe_is_accepted_and_unknown_probes_are_404(
    client: AsyncTestClient[Litestar],
) -> None:
    sent = await client.post("/api/v1/bus-probes", json={"note": "hello"})
    assert sent.status_code == 202
    probe_id = sent.json()["probe_id"]
    # Not received yet: no worker runs in this test, so nothing consumed it.
    missing = await client.get(f"/api/v1/bus-probes/{probe_id}")
    assert missing.status_code == 404
    assert "has not received probe" in missing.json()["detail"]


async def test_bad_bodies_get_a_reason(client: AsyncTestClient[Litestar]) -> None:
    wrong_type = await client.post("/api/v1/bus-probes", json={"note": 5})
    assert wrong_type.status_code == 400
    assert "note" in str(wrong_type.json())

    not_json = await client.post(
        "/api/v1/bus-probes", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400

    too_big = await client.post("/api/v1/bus-probes", json={"note": "x" * 2_000_000})
    assert too_big.status_code == 413


async def test_ready_is_503_with_the_reason_when_redis_is_down(
    app_settings: Settings,
    access_db: Database,
) -> None:
    dead = Settings(
        database=app_settings.database,
        access=app_settings.access,
        bus=BusSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0"),
        service=app_settings.service,
    )
    async with AsyncTestClient(app=build_service_app("feedback", dead)) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "unavailable: ConnectionError"},
    }
