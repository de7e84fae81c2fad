"""The patients of `mmt bench morning`: who got what from the fake Twilio, and who replies.

`Patients.watch` reads the fake's log of accepted messages as it grows (`GET
/_fake/sent?after=N`). A patient's first message is their reminder; another with the same
text is a duplicate. A chosen share of patients reply a few seconds after their reminder
arrives (a rating mostly, a few STOP, a few urgent words), each text posted to the feedback
webhook as Twilio posts it, signed. A reply is answered when the webhook's TwiML carries a
<Message>, or, if the service answers later by SMS, when the fake accepts a text of another
wording to that patient after the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from deploy.fakes.twilio import twiml_messages
from mmt.bench.common import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN
from services.feedback.grammar import URGENT_WORDS

SMS_PATH = "/webhooks/twilio/sms"
# Of the replies: a few opt out, a few raise an urgent need; the rest rate 1-5.
STOP_SHARE, URGENT_SHARE = 0.03, 0.02
# The Chinese urgent words (patients here text in Chinese).
URGENT_TEXTS = tuple(word for word in URGENT_WORDS if not word.isascii())


@dataclass
class Reply:
    number: str
    text: str
    kind: str  # rating, stop, urgent
    posted_at: float | None = None  # Unix seconds, as the fake's log
    status: int | None = None
    answered_at: float | None = None


def choose_repliers(numbers: list[str], share: float, seed: int = 7) -> dict[str, Reply]:
    """`share` of the numbers, each with what they will text; at least one STOP and one
    urgent text whenever three or more reply."""
    rng = random.Random(seed)  # noqa: S311 (a benchmark's mix, not a secret)
    chosen = rng.sample(numbers, round(len(numbers) * share))
    stops = max(1, round(len(chosen) * STOP_SHARE)) if len(chosen) >= 3 else 0
    urgent = max(1, round(len(chosen) * URGENT_SHARE)) if len(chosen) >= 3 else 0
    replies: dict[str, Reply] = {}
    for index, number in enumerate(chosen):
        if index < stops:
            replies[number] = Reply(number, "STOP", "stop")
        elif index < stops + urgent:
            replies[number] = Reply(number, rng.choice(URGENT_TEXTS), "urgent")
        else:
            replies[number] = Reply(number, str(rng.randint(1, 5)), "rating")
    return replies


@dataclass
class Patients:
    fake_url: str
    feedback_url: str
    replies: dict[str, Reply]
    reply_after_s: tuple[float, float]  # a reply comes this long after its reminder
    seed: int = 11
    reminders: dict[str, str] = field(default_factory=dict)  # number -> its reminder's text
    received: Counter[str] = field(default_factory=Counter)  # reminders per number
    errors: Counter[str] = field(default_factory=Counter)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _seen: int = 0

    def duplicates(self) -> int:
        """Patients who got one reminder more than once."""
        return sum(1 for count in self.received.values() if count > 1)

    def posted(self) -> int:
        return sum(1 for reply in self.replies.values() if reply.posted_at is not None)

    def accepted(self) -> int:
        """Replies the webhook took (200): the ones that must be stored and answered."""
        return sum(1 for reply in self.replies.values() if reply.status == 200)

    def answered(self) -> int:
        return sum(1 for reply in self.replies.values() if reply.answered_at is not None)

    def all_answered(self) -> bool:
        return all(reply.answered_at is not None for reply in self.replies.values())

    async def watch(self, stop: asyncio.Event) -> None:
        """Follow the fake's sends and post each reply when its time comes, until `stop`;
        the replies still in flight are awaited."""
        rng = random.Random(self.seed)  # noqa: S311 (when patients reply)
        validator = RequestValidator(TWILIO_TOKEN)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            while not stop.is_set():
                for accepted_at, number, text in await self._new_sends(http):
                    self._note(accepted_at, number, text, http, validator, rng)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.25)
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _new_sends(self, http: aiohttp.ClientSession) -> list[list[object]]:
        url = f"{self.fake_url}/_fake/sent?after={self._seen}"
        async with http.get(url) as response:
            found = await response.json()
        self._seen = int(found["next"])
        sends: list[list[object]] = found["sent"]
        return sends

    def _note(
        self,
        accepted_at: object,
        number: object,
        text: object,
        http: aiohttp.ClientSession,
        validator: RequestValidator,
        rng: random.Random,
    ) -> None:
        number, text, at = str(number), str(text), float(str(accepted_at))
        first = self.reminders.setdefault(number, text)
        reply = self.replies.get(number)
        if text == first:
            self.received[number] += 1
            if self.received[number] == 1 and reply is not None:
                when = at + rng.uniform(*self.reply_after_s)
                task = asyncio.create_task(self._post(http, validator, reply, when))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif reply is not None and reply.posted_at is not None and reply.answered_at is None:
            reply.answered_at = at  # answered by SMS, after the reply came in

    async def _post(
        self, http: aiohttp.ClientSession, validator: RequestValidator, reply: Reply, when: float
    ) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))
        url = self.feedback_url + SMS_PATH
        sid = "SM" + secrets.token_hex(16)
        form = {
            "AccountSid": TWILIO_SID,
            "ApiVersion": "2010-04-01",
            "Body": reply.text,
            "From": reply.number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": TWILIO_FROM,
        }
        headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
        reply.posted_at = time.time()
        try:
            async with http.post(url, data=form, headers=headers) as response:
                answer = await response.text()
                reply.status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors[type(exc).__name__] += 1
            return
        if reply.status != 200:
            self.errors[str(reply.status)] += 1
        elif twiml_messages(answer) and reply.answered_at is None:
            reply.answered_at = time.time()  # answered in the webhook's response
