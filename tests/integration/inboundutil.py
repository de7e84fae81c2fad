"""The feedback worker's inbound side for tests: webhooks only enqueue, so a test that
checks what a patient's message did first lets the worker handle the partition streams,
and reads the answers from the console channels (or the configured adapters)."""

from __future__ import annotations

from redis.asyncio import Redis

from services.feedback.grammar import Grammar, split_words
from services.feedback.inbound_partitions import drain
from services.feedback.inbound_worker import InboundHandler
from services.feedback.settings import FeedbackSettings
from services.feedback.sms_answers import Answers
from shared.bus import BusKeys
from shared.channels.console import ConsoleChannel
from shared.channels.factory import build_registry
from shared.channels.registry import ChannelRegistry
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database


class Replies:
    """Built lazily: the settings (urgent words, CHANNEL_SMS) are read from the test's
    environment at the first `settle`, after its fixtures have set it."""

    def __init__(
        self, redis: Redis, prefix: str, db: Database, access_db: Database, configured: bool
    ) -> None:
        self.redis = redis
        self.keys = BusKeys(prefix.rstrip("_"))
        self.db = db
        self.access_db = access_db
        self.configured = configured  # the adapters CHANNEL_SMS names, else console ones
        self.sms = ConsoleChannel("sms")
        self.wechat = ConsoleChannel("wechat")
        self._handler: InboundHandler | None = None
        self._registry: ChannelRegistry | None = None

    def handler(self) -> InboundHandler:
        if self._handler is None:
            if self.configured:
                self._registry = build_registry(self.redis, key_prefix=self.keys.prefix)
            registry = self._registry or ChannelRegistry([self.sms, self.wechat])
            self._handler = InboundHandler(
                self.db,
                self.access_db,
                self.redis,
                self.keys,
                IdentifierCipher.from_settings(IdentifierSettings()),
                Grammar(split_words(FeedbackSettings().feedback_urgent_words_extra)),
                Answers(registry),
            )
        return self._handler

    async def settle(self) -> int:
        """Handle every message waiting; returns how many were read."""
        return await drain(self.redis, self.keys, self.handler().handle)

    async def answer(self, provider_id: str, channel: str = "sms") -> str | None:
        """What was answered to that message (after settling), or None: nothing."""
        await self.settle()
        console = self.sms if channel == "sms" else self.wechat
        sent = [m.text for m in console.sent if m.message_id == f"reply-{provider_id}"[:80]]
        assert len(sent) <= 1, f"{provider_id} answered {len(sent)} times"
        return sent[0] if sent else None

    async def aclose(self) -> None:
        if self._registry is not None:
            await self._registry.aclose()
