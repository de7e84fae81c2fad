"""WeChat beyond the contract: one token refresher across workers, errcodes, the 48 h window.

Several `WeChatChannel`s sharing one Redis stand for several workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from deploy.fakes.process import RunningFake, running_fake
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat import QUOTA_RETRY_S, AccessTokens, WeChatChannel, WeChatConfig

APP_ID, SECRET = "wxtokentest0000001", "token-test-app-secret"
OPENID = "oTOKENTEST00000000000000001"
TEMPLATES = {
    "dose": WeChatTemplate(template_id="TPL-DOSE", data={"thing1": "summary", "thing2": "=门诊"}),
    "lesson": WeChatTemplate(template_id="TPL-LESSON", data={"thing1": "summary"}),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    with running_fake("wechat", "--app-id", APP_ID, "--app-secret", SECRET) as running:
        yield running


@pytest.fixture
async def workers(
    fake: RunningFake, redis: Redis, isolation: str
) -> AsyncIterator[list[WeChatChannel]]:
    fake.reset()
    config = WeChatConfig(
        APP_ID, SECRET, api_base_url=fake.url, templates=TEMPLATES, key_prefix=isolation
    )
    channels = [WeChatChannel(config, redis) for _ in range(3)]
    yield channels
    for channel in channels:
        await channel.aclose()


def dose(message_id: str = "m-1", *, window: bool = False, openid: str = OPENID) -> OutboundMessage:
    text = "今天记得按时来门诊。"
    return OutboundMessage(message_id, openid, text, "dose", {"summary": text}, window)


async def test_workers_starting_together_fetch_one_token(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    sends = [w.send(dose(f"m-{i}-{n}")) for n in range(10) for i, w in enumerate(workers)]
    await asyncio.wait_for(asyncio.gather(*sends), timeout=30)
    stats = fake.stats()
    assert stats["token_requests"] == 1
    assert stats["template_sent"] == 30


async def test_concurrent_refreshers_of_one_stale_token_fetch_once(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    stale = await workers[0].tokens.get()
    fresh = await asyncio.gather(*(w.tokens.refresh(stale=stale) for w in workers * 3))
    assert len(set(fresh)) == 1
    assert stale not in fresh
    assert fake.stats()["token_requests"] == 2  # the first token, then one refresh


async def test_an_expired_token_is_refreshed_once_and_the_send_goes(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    await workers[0].send(dose("m-before"))
    fake.post("/_fake/expire-tokens")
    results = await asyncio.gather(*(w.send(dose(f"m-after-{i}")) for i, w in enumerate(workers)))
    assert all(r.provider_id for r in results)
    stats = fake.stats()
    assert stats["token_requests"] == 2
    assert 1 <= stats["expired_tokens"] <= 3  # no worker met it twice
    assert stats["template_sent"] == 4


async def test_a_repeated_message_id_is_not_pushed_twice(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    first = await workers[0].send(dose("m-same"))
    again = await workers[1].send(dose("m-same"))  # a retry after a lost answer
    assert first.provider_id == again.provider_id
    assert fake.stats()["accepted"] == {OPENID: 1}


async def test_errcodes_map_to_what_the_dispatcher_does(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    channel = workers[0]
    fake.configure(unfollowed=[OPENID])
    with pytest.raises(SendFailed) as caught:
        await channel.send(dose())
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "43004"
    assert "not following the official account" in caught.value.reason

    fake.configure(unfollowed=[], quota_exhausted=True)
    with pytest.raises(SendFailed) as caught:
        await channel.send(dose())
    assert caught.value.kind is FailureKind.RATE_LIMITED
    assert caught.value.retry_after_s == QUOTA_RETRY_S

    fake.configure(quota_exhausted=False, busy_rate=1.0)
    with pytest.raises(SendFailed) as caught:
        await channel.send(dose())
    assert caught.value.kind is FailureKind.RETRYABLE
    assert caught.value.code == "-1"


async def test_free_text_inside_the_window_and_a_template_once_it_closed(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    channel = workers[0]
    await channel.send(dose("m-open", window=True))
    assert fake.stats()["custom_sent"] == 1
    fake.configure(window_closed=[OPENID])
    result = await channel.send(dose("m-closed", window=True))
    assert result.provider_id  # the template's msgid
    stats = fake.stats()
    assert (stats["custom_sent"], stats["template_sent"]) == (1, 1)


async def test_a_kind_without_a_template_is_permanent(workers: list[WeChatChannel]) -> None:
    survey = OutboundMessage("m-s", OPENID, "How was your week?", "survey", {"summary": "x"})
    with pytest.raises(SendFailed) as caught:
        await workers[0].send(survey)
    assert caught.value.kind is FailureKind.PERMANENT
    assert "WECHAT_TEMPLATES" in caught.value.reason


async def test_a_wrong_secret_is_permanent_and_not_quoted(
    fake: RunningFake, redis: Redis, isolation: str
) -> None:
    fake.reset()
    config = WeChatConfig(
        APP_ID, "a-wrong-secret", api_base_url=fake.url, templates=TEMPLATES, key_prefix=isolation
    )
    channel = WeChatChannel(config, redis)
    try:
        with pytest.raises(SendFailed) as caught:
            await channel.send(dose())
    finally:
        await channel.aclose()
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "40125"
    assert "a-wrong-secret" not in caught.value.reason
    assert caught.value.reason.startswith("wechat access token:")


async def test_a_worker_remembers_the_token_and_needs_redis_only_after_the_memo(
    fake: RunningFake, workers: list[WeChatChannel], redis: Redis, isolation: str
) -> None:
    first, other = workers[0], workers[1]
    await first.send(dose("m-memo-1"))
    token = await first.tokens.get()
    replaced = await other.tokens.refresh(stale=token)  # another worker's refresh
    assert replaced != token
    # Within the memo this worker goes on with its token (WeChat keeps a replaced one valid
    # for five minutes), without asking Redis before every send.
    assert await first.tokens.get() == token
    await first.send(dose("m-memo-2"))
    stats = fake.stats()
    assert (stats["token_requests"], stats["template_sent"]) == (2, 2)

    short = AccessTokens(redis, f"{isolation}:wechat:{APP_ID}:token", _no_fetch, memo_s=0.05)
    assert await short.get() == replaced
    await asyncio.sleep(0.1)  # past its memo: Redis's current token again
    await redis.set(f"{isolation}:wechat:{APP_ID}:token", "a-newer-token")
    assert await short.get() == "a-newer-token"


async def test_a_token_refused_within_the_memo_is_replaced_and_the_send_goes(
    fake: RunningFake, workers: list[WeChatChannel]
) -> None:
    channel = workers[0]
    await channel.send(dose("m-refused-1"))
    fake.post("/_fake/expire-tokens")  # WeChat drops every token, remembered ones too
    result = await channel.send(dose("m-refused-2"))
    assert result.provider_id
    stats = fake.stats()
    assert stats["token_requests"] == 2
    assert stats["template_sent"] == 2


async def test_the_memo_never_outlives_the_margin_before_wechat_expiry(
    redis: Redis, isolation: str
) -> None:
    key = f"{isolation}:wechat:{APP_ID}:token"
    await redis.set(key, "token-1")
    tokens = AccessTokens(redis, key, _no_fetch, margin_s=0)  # no margin: no memo
    assert await tokens.get() == "token-1"
    await redis.set(key, "token-2")
    assert await tokens.get() == "token-2"


async def _no_fetch() -> tuple[str, int]:
    raise AssertionError("the token is in Redis; nothing should be fetched")
