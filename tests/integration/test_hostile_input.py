"""Hostile input at the scheduler and content APIs and the scheduler's Twilio webhook: SQL
in every text field, NUL characters, unknown time zones, wrong content types, oversize
and chunked bodies, forged and replayed signatures. Each is refused with a reason (or, for
free text, kept as plain data), nothing else is stored, and the service stays healthy.

Feedback's webhooks have their own hostile tests (test_feedback_inbound, _wechat).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from services.scheduler.models import Patient
from shared.access.models import Clinic
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic

Client = AsyncTestClient[Litestar]
SQL = [
    "' OR '1'='1",
    "x'); DROP TABLE patients; --",
    "1; SELECT pg_sleep(5) --",
    "\\'; TRUNCATE access.clinics; --",
]
BASE, TWILIO_TOKEN = "https://mmt.test", "hostile-test-twilio-token"


@pytest.fixture
async def api(
    app_settings: Settings,
    access_db: Database,
    scheduler_db: Database,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Client, int]]:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    yx = await clinic(access_db, "YX")
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('admin')}"
        yield client, yx


def _patient(clinic_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clinic_id": clinic_id,
        "clinic_number": "H-1",
        "display_name": "W.L.",
        "phone": "13900139000",
        "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
    }
    return body | changes


async def _count(db: Database, model: type[Any]) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _healthy(client: Client) -> None:
    assert (await client.get("/ready")).json()["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize("text", SQL)
async def test_sql_in_text_fields_is_plain_data_or_refused(
    api: tuple[Client, int], scheduler_db: Database, access_db: Database, text: str
) -> None:
    client, yx = api
    # Free text is stored exactly as sent (bound parameters), never run.
    made = await client.post(
        "/api/v1/patients", json=_patient(yx, clinic_number=text[:40], display_name=text[:40])
    )
    assert made.status_code == 201, made.text
    got = (await client.get(f"/api/v1/patients/{made.json()['id']}")).json()
    assert (got["clinic_number"], got["display_name"]) == (text[:40], text[:40])
    found = await client.get("/api/v1/patients", params={"clinic_number": text[:40]})
    assert [p["id"] for p in found.json()] == [made.json()["id"]]
    # Fields with a form say which one is wrong, and store nothing.
    for changes in (
        {"time_zone": text},
        {"phone": text},
        {"language": text},
        {"dose_time": text},
        {"channel_order": [text]},
    ):
        refused = await client.post("/api/v1/patients", json=_patient(yx, **changes))
        assert refused.status_code == 400, (changes, refused.text)
        field = next(iter(changes))
        assert field in refused.text or field.replace("_", " ") in refused.text
    clinic_refused = await client.post(
        "/api/v1/clinics", json={"code": text, "name": text, "help_phone": "0877 2012345"}
    )
    assert clinic_refused.status_code == 400
    for name, value in (("status", text), ("phone", text), ("clinic_number", text)):
        listed = await client.get("/api/v1/patients", params={name: value})
        assert listed.status_code in (200, 400), listed.text
    assert await _count(scheduler_db, Patient) == 1
    assert await _count(access_db, Clinic) == 1
    await _healthy(client)


async def test_unknown_time_zones_are_refused_with_the_field(
    api: tuple[Client, int], scheduler_db: Database, access_db: Database
) -> None:
    client, yx = api
    for zone in ("Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "UTC+25", "Asia"):
        clinic_answer = await client.post(
            "/api/v1/clinics",
            json={"code": "ZZ", "name": "Z", "help_phone": "1", "time_zone": zone},
        )
        assert clinic_answer.status_code == 400, (zone, clinic_answer.text)
        patient_answer = await client.post("/api/v1/patients", json=_patient(yx, time_zone=zone))
        assert patient_answer.status_code == 400, (zone, patient_answer.text)
        assert "time_zone" in patient_answer.text or "time zone" in patient_answer.text
        moved = await client.patch(f"/api/v1/clinics/{yx}", json={"time_zone": zone})
        assert moved.status_code == 400, (zone, moved.text)
    assert (await client.get(f"/api/v1/clinics/{yx}")).json()["time_zone"] == "Asia/Shanghai"
    assert await _count(scheduler_db, Patient) == 0
    assert await _count(access_db, Clinic) == 1
    await _healthy(client)


async def test_nul_characters_are_refused_everywhere(
    api: tuple[Client, int], scheduler_db: Database
) -> None:
    """PostgreSQL text cannot hold NUL: found by fuzzing as 500s, now 400s with the reason."""
    client, yx = api
    answers = [
        await client.post("/api/v1/patients", json=_patient(yx, display_name="W\x00L")),
        await client.get("/api/v1/alerts", params={"status": "open\x00"}),
        await client.get("/api/v1/patients", params={"clinic_number": "\x00"}),
        await client.post("/webhooks/twilio/status", data={"MessageSid": "SM\x00"}),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert all("NUL" in a.text for a in answers)
    assert answers[-1].headers["content-type"].startswith("text/plain")  # a webhook's type
    assert await _count(scheduler_db, Patient) == 0
    await _healthy(client)


async def test_out_of_range_values_found_by_fuzzing_are_not_500(api: tuple[Client, int]) -> None:
    client, yx = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx))).json()["id"]
    moved = await client.post(
        f"/api/v1/patients/{pid}/transfer", json={"clinic_id": 10**22, "clinic_number": "X"}
    )
    assert moved.status_code == 400
    assert "clinic_id" in moved.text
    # Just inside Python's datetime range, outside it once in UTC.
    audit = await client.get("/api/v1/audit", params={"since": "0001-01-01T00:00:00+00:01"})
    assert audit.status_code == 200, audit.text
    long_id = await client.get(f"/api/v1/clinics/{'9' * 80}")  # past the audit's id column
    assert long_id.status_code == 400, long_id.text


async def test_wrong_content_types_and_oversize_bodies(
    api: tuple[Client, int], scheduler_db: Database, app_settings: Settings
) -> None:
    client, yx = api
    xml = b"<patient><clinic_id>1</clinic_id></patient>"
    as_xml = await client.post(
        "/api/v1/patients", content=xml, headers={"Content-Type": "application/xml"}
    )
    as_form = await client.post("/api/v1/patients", data={"clinic_id": str(yx)})
    as_text = await client.post(
        "/api/v1/patients", content=b"clinic_id=1", headers={"Content-Type": "text/plain"}
    )
    assert [r.status_code for r in (as_xml, as_form, as_text)] == [400, 400, 400]
    big = _patient(yx, display_name="x" * 2_000_000)
    assert (await client.post("/api/v1/patients", json=big)).status_code == 413

    # No Content-Length, sent in pieces: the limit holds while reading. The test client
    # cannot stream a request, so an app of this loop is called as a server would call it.
    pieces = [b'{"clinic_id": 1, "display_name": "', *[b"x" * 65536] * 40, b'"}']
    headers = {"content-type": "application/json", **client.headers}
    streamed = build_service_app("scheduler", app_settings)
    async with streamed.lifespan():
        assert await _raw_post(streamed, "/api/v1/patients", pieces, headers) == 413
    assert await _count(scheduler_db, Patient) == 0
    await _healthy(client)


async def _raw_post(app: Any, path: str, pieces: list[bytes], headers: Any) -> int:
    waiting = list(pieces)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        body = waiting.pop(0) if waiting else b""
        return {"type": "http.request", "body": body, "more_body": bool(waiting)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return status[0]


def _signed(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


async def test_forged_and_replayed_twilio_receipts_change_nothing(
    api: tuple[Client, int],
) -> None:
    client, _ = api
    url = f"{BASE}/webhooks/twilio/status"
    params = {"MessageSid": "SM0123", "MessageStatus": "delivered"}
    forged = [
        (params, _signed(url, params, token="not-the-token")),
        (params, _signed("https://attacker.test/webhooks/twilio/status", params)),
        # A real signature replayed with one field changed.
        ({**params, "MessageStatus": "failed"}, _signed(url, params)),
        (params, {}),
    ]
    for data, headers in forged:
        answer = await client.post("/webhooks/twilio/status", data=data, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "signature" in answer.text
    # The genuine callback, delivered twice (Twilio retries): unknown message, ignored twice.
    for _ in range(2):
        genuine = await client.post(
            "/webhooks/twilio/status", data=params, headers=_signed(url, params)
        )
        assert genuine.status_code == 200
    await _healthy(client)


async def test_a_long_path_id_is_audited_not_withheld(
    app_settings: Settings, content_db: Database, make_token: TokenFactory
) -> None:
    """The audit's id column is 64 characters: a longer path id used to make the entry
    unwritable, and the answer was withheld as a 503 (found by fuzzing)."""
    async with AsyncTestClient(app=build_service_app("content", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('admin')}"
        answer = await client.get(f"/api/v1/tracks/{'ж' * 70}")
        assert answer.status_code == 404, answer.text
