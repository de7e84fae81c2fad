"""The bus's dead letters through the scheduler's API: admins only, newest first, and never
the payload; and the console's admin page over it."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from shared.bus import BusKeys
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.consoleutil import World
from tests.integration.schedutil import clinic
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world
from tests.integration.test_console_programme import as_admin

PAYLOAD = '{"patient_id": 7, "text": "secret words"}'


async def _dead_letters(redis: Redis, settings: Settings, count: int) -> None:
    keys = BusKeys(settings.bus.bus_prefix)
    for n in range(count):
        await redis.xadd(
            keys.dead_letters,
            {
                "stream": f"{keys.tag}:commands",
                "entry": f"1700000000000-{n}",
                "group": "scheduler",
                "type": "SendMessage.v1",
                "reason": f"ValueError: attempt {n}",
                "deliveries": "5",
                "at": "2026-12-03T08:00:00+00:00",
                "m": PAYLOAD,
            },
        )


async def test_admins_read_dead_letters_without_payloads(
    app_settings: Settings, redis: Redis, make_token: TokenFactory, access_db: Database
) -> None:
    await _dead_letters(redis, app_settings, 3)
    await clinic(access_db, "YX")
    admin = await make_token("admin")
    coordinator = await make_token("coordinator", ["YX"])
    app: Litestar = build_service_app("scheduler", app_settings)
    async with AsyncTestClient(app=app) as api:
        listed = await api.get(
            "/api/v1/dead-letters?limit=2", headers={"Authorization": f"Bearer {admin}"}
        )
        assert listed.status_code == 200
        letters = listed.json()
        assert [d["reason"] for d in letters] == ["ValueError: attempt 2", "ValueError: attempt 1"]
        assert letters[0]["deliveries"] == 5
        assert letters[0]["group"] == "scheduler"
        assert "secret words" not in listed.text
        assert "m" not in letters[0]
        refused = await api.get(
            "/api/v1/dead-letters", headers={"Authorization": f"Bearer {coordinator}"}
        )
        assert refused.status_code == 403
        assert (await api.get("/api/v1/dead-letters")).status_code == 401
        too_many = await api.get(
            "/api/v1/dead-letters?limit=5000", headers={"Authorization": f"Bearer {admin}"}
        )
        assert too_many.status_code == 400


async def test_the_console_shows_dead_letters_to_admins_only(
    world: World, client: Client, access_db: Database, redis: Redis, app_settings: Settings
) -> None:
    await _dead_letters(redis, app_settings, 1)
    await sign_in(client)
    world.services.seen.clear()
    assert (await client.get("/dead-letters")).status_code == 404
    assert world.services.seen == []  # a coordinator's request asks no API
    await as_admin(client, access_db)
    shown = await client.get("/dead-letters")
    assert shown.status_code == 200
    assert "ValueError: attempt 0" in shown.text
    assert "SendMessage.v1" in shown.text
    assert "secret words" not in shown.text
    assert 'href="/dead-letters"' in shown.text  # in the admin's nav
