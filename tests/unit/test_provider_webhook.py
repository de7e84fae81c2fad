"""The lean provider webhook's own duties: what Litestar did for a `@post` route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from shared.provider_webhook import Answer, ProviderCall, provider_webhook

PATH = "/webhooks/test/echo"
LIMIT = 64
seen: list[ProviderCall] = []


@provider_webhook(PATH, body_limit=lambda state: LIMIT)
async def echo(call: ProviderCall) -> Answer:
    seen.append(call)
    if call.body == b"boom":
        raise RuntimeError("the webhook failed")
    text = f"{call.query('id')}|{call.headers.get('x-test')}|{call.body.decode()}"
    return Answer(200, text, headers={"X-Seen": "1"})


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    seen.clear()
    with TestClient(Litestar([echo])) as client:
        yield client


def _count(status: str) -> float:
    labels = {"path": PATH, "status": status}
    return REGISTRY.get_sample_value("mmt_webhook_requests_total", labels) or 0.0


def test_a_post_reaches_the_webhook_with_its_query_headers_and_body(
    client: TestClient[Litestar],
) -> None:
    before = _count("200")
    answer = client.post(f"{PATH}?id=m1", content=b"a=1&b=2", headers={"X-Test": "yes"})
    assert answer.status_code == 200
    assert answer.text == "m1|yes|a=1&b=2"
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["x-seen"] == "1"
    assert seen[0].url("https://mmt.example.org/") == f"https://mmt.example.org{PATH}?id=m1"
    assert _count("200") == before + 1


def test_only_post_is_served(client: TestClient[Litestar]) -> None:
    before = _count("405")
    answer = client.get(PATH)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "OPTIONS, POST"
    options = client.options(PATH)
    assert options.status_code == 204
    assert options.headers["allow"] == "OPTIONS, POST"
    assert seen == []
    assert _count("405") == before + 1


def test_a_body_over_the_limit_is_refused_unread(client: TestClient[Litestar]) -> None:
    answer = client.post(PATH, content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.text == f"body over {LIMIT} bytes"
    assert client.post(PATH, content=b"x" * LIMIT).status_code == 200
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("query", "body", "content_type"),
    [
        ("id=a%00b", b"", "application/x-www-form-urlencoded"),
        ("", b"MessageSid=SM%00", "application/x-www-form-urlencoded"),
        ("", b'{"id": "\\u0000"}', "application/json"),
        ("", b"raw\x00", "text/plain"),
    ],
)
def test_a_nul_anywhere_is_refused_before_the_webhook(
    client: TestClient[Litestar], query: str, body: bytes, content_type: str
) -> None:
    answer = client.post(f"{PATH}?{query}", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    assert "NUL" in answer.text
    assert seen == []


def test_a_failing_webhook_answers_500_through_the_app(client: TestClient[Litestar]) -> None:
    before = _count("500")
    answer = client.post(PATH, content=b"boom")
    assert answer.status_code == 500
    assert len(seen) == 1
    assert _count("500") == before + 1
