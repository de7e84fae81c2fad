"""A patient's reply made by a fake provider (`POST /_fake/inbound`): posted to the real
feedback service, served on a port, signed as Twilio and WeChat sign it, accepted, and
answered by the worker (here on the console channels).

The feedback service checks Twilio's signature against FEEDBACK_PUBLIC_URL, which wins over
PUBLIC_BASE_URL (set to another address by the fixtures): the reply arrives only if the
per-service URL is the one used.
"""

from __future__ import annotations

import asyncio
import urllib.error
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from litestar import Litestar
from sqlalchemy import select

from deploy.fakes.process import RunningFake, running_fake
from services.feedback.models import InboundMessage
from shared.db import Database
from shared.messages import OptOutRequested, RatingGiven
from shared.net import free_port
from shared.settings import Settings
from tests.conftest import build_service_app
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import (
    EMPTY_TWIML,
    PHONE,
    STRANGER,
    TOKEN,
    count,
    events,
)

OPENID = "o" + "w" * 27  # the patient of the `world` fixture on WeChat
SERVER_TOKEN = "sandbox-test-server-token"
RATED = "Thank you for your rating!"
UNSUBSCRIBED = "You are unsubscribed and will get no more reminders. Reply START to resume."


@asynccontextmanager
async def serving(app: Litestar, port: int) -> AsyncIterator[None]:
    """The app on a real port, as `mmt serve` runs it, for the fakes to post to."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: say why
            raise AssertionError("the feedback service stopped while starting")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
def feedback_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def fakes(feedback_port: int) -> Iterator[dict[str, RunningFake]]:
    """Both fakes, told where the feedback service's webhooks are (as the sandbox does)."""
    base = f"http://127.0.0.1:{feedback_port}"
    with (
        running_fake(
            "twilio", "--auth-token", TOKEN, "--sms-url", f"{base}/webhooks/twilio/sms"
        ) as twilio,
        running_fake(
            "wechat",
            *("--server-url", f"{base}/webhooks/wechat"),
            *("--server-token", SERVER_TOKEN),
        ) as wechat,
    ):
        yield {"twilio": twilio, "wechat": wechat}


@pytest.fixture
async def feedback(
    feedback_port: int,
    fakes: dict[str, RunningFake],
    world: tuple[int, int],
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[dict[str, RunningFake]]:
    """The feedback service on its port, its public URL that port; the fakes reset."""
    monkeypatch.setenv("FEEDBACK_PUBLIC_URL", f"http://127.0.0.1:{feedback_port}")
    monkeypatch.setenv("WECHAT_SERVER_TOKEN", SERVER_TOKEN)
    for fake in fakes.values():
        fake.reset()
    async with serving(build_service_app("feedback", app_settings), feedback_port):
        yield fakes


async def reply(fake: RunningFake, **body: str) -> Any:
    # In a thread: the fake calls the feedback service, which runs on this event loop.
    return await asyncio.to_thread(fake.post, "/_fake/inbound", body)


async def answers(replies: Replies, channel: str = "sms") -> list[str]:
    """The texts the worker sent so far (after settling)."""
    await replies.settle()
    return [m.text for m in (replies.sms if channel == "sms" else replies.wechat).sent]


async def kinds(db: Database) -> list[tuple[str, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(InboundMessage.channel, InboundMessage.kind).order_by(InboundMessage.id)
        )
    return [(channel, kind) for channel, kind in rows]


async def test_an_sms_reply_arrives_signed_as_twilio_signs_it_and_is_answered(
    feedback: dict[str, RunningFake], feedback_db: Database, replies: Replies
) -> None:
    twilio = feedback["twilio"]
    rated = await reply(twilio, **{"from": PHONE, "body": "1"})
    assert (rated["status"], rated["replies"], rated["answer"]) == (200, [], EMPTY_TWIML)
    assert await answers(replies) == [RATED]
    stopped = await reply(twilio, **{"from": PHONE, "body": "STOP"})
    assert stopped["status"] == 200
    again = await reply(twilio, **{"from": PHONE, "body": "STOP"})
    assert again["status"] == 200
    assert await answers(replies) == [RATED, UNSUBSCRIBED]  # confirmed once only
    assert await kinds(feedback_db) == [("sms", "rating"), ("sms", "opt_out"), ("sms", "opt_out")]
    published = await events(feedback_db)
    assert [type(event) for event in published] == [RatingGiven, OptOutRequested]
    assert twilio.stats()["inbound"] == 3


async def test_a_wechat_message_arrives_signed_as_wechat_signs_it_and_is_answered(
    feedback: dict[str, RunningFake], feedback_db: Database, replies: Replies
) -> None:
    wechat = feedback["wechat"]
    rated = await reply(wechat, openid=OPENID, text="1")
    assert (rated["status"], rated["answer"]) == (200, "success")
    stopped = await reply(wechat, openid=OPENID, text="STOP")
    assert stopped["status"] == 200
    followed = await reply(wechat, openid=OPENID, event="subscribe")
    assert followed["status"] == 200
    assert (await answers(replies, "wechat"))[:2] == [RATED, UNSUBSCRIBED]
    assert await kinds(feedback_db) == [
        ("wechat", "rating"),
        ("wechat", "opt_out"),
        ("wechat", "subscribe"),
    ]


async def test_a_stranger_is_told_so_and_a_wrong_secret_is_refused_with_nothing_stored(
    feedback: dict[str, RunningFake], feedback_db: Database, replies: Replies
) -> None:
    twilio, wechat = feedback["twilio"], feedback["wechat"]
    stranger = await reply(twilio, **{"from": STRANGER, "body": "1"})
    assert stranger["status"] == 200
    [told] = await answers(replies)
    assert "we could not match your number" in told
    twilio.configure(auth_token="not-the-account-token")
    forged = await reply(twilio, **{"from": PHONE, "body": "STOP"})
    assert (forged["status"], forged["replies"]) == (403, [])
    assert forged["answer"] == "signature does not match"
    wechat.configure(server_token="not-the-server-token")
    forged = await reply(wechat, openid=OPENID, text="STOP")
    assert (forged["status"], forged["replies"]) == (403, [])
    assert await replies.settle() == 0  # nothing enqueued
    assert await count(feedback_db, InboundMessage) == 0
    assert await events(feedback_db) == []


def test_a_fake_without_the_webhook_url_says_which_flag_is_missing() -> None:
    with running_fake("twilio") as twilio, running_fake("wechat") as wechat:
        for fake, body, flag in (
            (twilio, {"from": PHONE, "body": "1"}, "--sms-url"),
            (wechat, {"openid": OPENID, "text": "1"}, "--server-url"),
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                fake.post("/_fake/inbound", body)
            assert refused.value.code == 409
            assert flag in refused.value.read().decode()
