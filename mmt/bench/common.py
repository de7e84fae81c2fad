"""What every `mmt bench` command shares: a throwaway place to work, seeding, the fake
provider, figures about the machine, percentiles and peak memory.

Every benchmark works in schemas and Redis keys under a fresh prefix (`bench1a2b3c4d_`)
and removes them afterwards, so it can run beside the real suite on the same servers.
"""

from __future__ import annotations

import os
import platform
import resource
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import insert, select, text

from deploy.fakes.process import RunningFake, running_fake
from mmt.bench.cn_sms import CN_SMS
from services.scheduler.models import Occurrence, Patient
from shared.bus.connect import connect_redis, redis_version
from shared.channels.settings import WeChatTemplate
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.channels.wechat import WeChatChannel, WeChatConfig
from shared.channels.wechat_fields import SUGGESTED_DATA
from shared.crypto import IdentifierCipher, decode_hmac_key, generate_keys
from shared.db import Database

# The fake Twilio account the benchmarks talk to (the sandbox's values: no real secret).
TWILIO_SID, TWILIO_TOKEN = "AC" + "5a" * 16, "sandbox-auth-token"
TWILIO_FROM = "+15005550006"
WECHAT_ID, WECHAT_SECRET = "wx" + "b3" * 8, "bench-wechat-secret"  # the fake's; no real secret
BODY = "今天的提醒：请按时来门诊。回复 HELP 获取帮助。"  # a discreet dose reminder's length
CHUNK = 5000
ROOT = Path(__file__).resolve().parents[2]  # children run from the checkout


def phone(i: int) -> str:
    """A distinct Chinese mobile number per patient, so the fake can count duplicates."""
    return f"+86138{i:08d}"


def openid(i: int) -> str:
    """A distinct WeChat openid per patient (28 characters, as WeChat's are)."""
    return f"oBENCH{i:022d}"


@dataclass
class Place:
    """A throwaway schema prefix and Redis key prefix."""

    prefix: str  # "bench1a2b3c4d_" (schemas)
    redis: Redis

    @property
    def bus(self) -> str:
        return self.prefix.rstrip("_")

    async def forget_redis(self) -> None:
        """Every key under the prefix: the bus's streams and what workers or servers wrote."""
        keys = [
            key
            for match in (f"{self.bus}*", f"{{{self.bus}*")  # channels' keys, the bus's
            async for key in self.redis.scan_iter(match=match, count=1000)
        ]
        for start in range(0, len(keys), 1000):
            await self.redis.unlink(*keys[start : start + 1000])


@asynccontextmanager
async def throwaway(redis_url: str) -> AsyncIterator[Place]:
    redis = connect_redis(redis_url)
    place = Place(f"bench{uuid.uuid4().hex[:8]}_", redis)
    try:
        yield place
    finally:
        await place.forget_redis()
        await redis.aclose()


def bench_cipher() -> tuple[IdentifierCipher, dict[str, str]]:
    """Fresh identifier keys: the cipher, and the environment that gives a child the same."""
    keys = generate_keys()
    cipher = IdentifierCipher(
        keys["IDENTIFIER_KEYS"].split(","), decode_hmac_key(keys["IDENTIFIER_HMAC_KEY"])
    )
    return cipher, keys


def patient_row(i: int, now: datetime, phone_enc: str, **changes: Any) -> dict[str, Any]:
    midnight = clock_time(0, 0)
    row: dict[str, Any] = {
        "clinic_id": 1,
        "clinic_number": f"B{i}",
        "display_name": "B.",
        "phone_enc": phone_enc,
        "phone_hash": f"bench{i}",
        "channel_order": ["sms"],
        "language": "zh-CN",
        "time_zone": "Asia/Shanghai",
        "dose_time": midnight,
        "quiet_start": midnight,
        "quiet_end": midnight,
        "state": "active",
        "consent_version": "bench",
        "consent_at": now,
        "consent_recorded_by": "bench",
        "enrolled_at": now,
        "updated_at": now,
        "explicit_wording": False,
    }
    row.update(changes)
    return row


async def seed_due(
    db: Database,
    n: int,
    cipher: IdentifierCipher,
    first_due: datetime,
    spread_s: float = 0.0,
    clinic_id: int = 1,
    channel: str = "sms",
) -> None:
    """N patients with a distinct phone each and one dose reminder each, due from
    `first_due` evenly over `spread_s` seconds (0: all at once), a chunk at a time. With
    `channel="wechat"` each also has a distinct openid and WeChat as their only channel."""
    now = first_due

    def wechat(i: int) -> dict[str, Any]:
        if channel != "wechat":
            return {}
        return {
            "openid_enc": cipher.encrypt(openid(i)),
            "openid_hash": f"benchwx{i}",
            "channel_order": ["wechat"],
        }

    async with db.transaction() as session:
        for start in range(0, n, CHUNK):
            await session.execute(
                insert(Patient),
                [
                    patient_row(i, now, cipher.encrypt(phone(i)), clinic_id=clinic_id, **wechat(i))
                    for i in range(start, min(start + CHUNK, n))
                ],
            )
        ids = (await session.execute(select(Patient.id).order_by(Patient.id))).scalars().all()
        step = spread_s / n if n else 0.0
        for start in range(0, n, CHUNK):
            await session.execute(
                insert(Occurrence),
                [
                    {
                        "patient_id": pid,
                        "kind": "dose",
                        "local_date": now.date(),
                        "slot": "bench",
                        "due_at": first_due + timedelta(seconds=(start + k) * step),
                        "expires_at": first_due + timedelta(seconds=spread_s, hours=1),
                        "state": "planned",
                    }
                    for k, pid in enumerate(ids[start : start + CHUNK])
                ],
            )


# Yesterday's reminder for every patient, as a deployment's tables hold them on any morning
# but its first: a released occurrence, its message, the attempt and the processed command
# id. Made inside PostgreSQL (this process never holds the rows). (The burst is seeded a day
# ahead and moved to now afterwards, hence two days back.) No outbox rows: a fresh bus
# prefix makes the relay publish its replay window again, and they would be in it.
_HISTORY = (
    """INSERT INTO "{s}".occurrences
         (patient_id, kind, local_date, slot, due_at, expires_at, state)
       SELECT patient_id, kind, local_date - 1, slot, due_at - interval '2 days',
              expires_at - interval '2 days', 'queued'
       FROM "{s}".occurrences WHERE slot = 'bench'""",
    """INSERT INTO "{s}".messages (id, occurrence_id, patient_id, clinic_id, kind,
         local_date, state, channel, provider_id, attempts, expires_at, created_at, updated_at)
       SELECT gen_random_uuid()::text, o.id, o.patient_id, p.clinic_id, o.kind, o.local_date,
              'delivered', 'sms', 'SM' || md5(o.id::text), 1, o.expires_at, o.due_at, o.due_at
       FROM "{s}".occurrences o JOIN "{s}".patients p ON p.id = o.patient_id
       WHERE o.state = 'queued'""",
    """INSERT INTO "{s}".attempts (message_id, channel, at, outcome, provider_id)
       SELECT id, channel, created_at, 'sent', provider_id FROM "{s}".messages""",
    """INSERT INTO "{s}".processed_messages (message_id, message_tag, processed_at)
       SELECT gen_random_uuid()::text, 'SendMessage.v1', created_at FROM "{s}".messages""",
)


async def seed_history(db: Database) -> None:
    """Give every seeded patient yesterday's reminder, then ANALYZE, as autovacuum would
    have done overnight.

    Measured on empty, never-analysed tables, a burst is a first morning: PostgreSQL's
    planner, knowing nothing of tables that grow by the thousand a second, chose sequential
    scans for the batch look-ups by id (the inbox check and the dispatcher's claim), which
    cost more with every batch (docs/benchmarks.md). A deployment meets that only until
    autovacuum first analyses its tables; every later morning looks like this.
    """
    schema = db.schema  # our own generated identifier (bench + hex), never input
    async with db.engine.begin() as conn:
        for statement in _HISTORY:
            await conn.execute(text(statement.format(s=schema)))
    await analyze(
        db, "patients", "occurrences", "messages", "attempts", "processed_messages", "outbox"
    )


async def analyze(db: Database, *tables: str) -> None:
    """ANALYZE these tables of `db`'s schema, as autovacuum does overnight."""
    names = ", ".join(f'"{db.schema}".{table}' for table in tables)  # our own names
    async with db.autocommit() as conn:
        await conn.execute(text(f"ANALYZE {names}"))


@contextmanager
def fake_twilio(*flags: str) -> Iterator[RunningFake]:
    """The fake Twilio Messages API as a child process, with no status callbacks unless
    `flags` ask for them (a later flag wins): most benchmarks measure handing messages
    over, not receipts."""
    with running_fake(
        "twilio",
        "--account-sid",
        TWILIO_SID,
        "--auth-token",
        TWILIO_TOKEN,
        "--callback-statuses",
        "",
        *flags,
    ) as fake:
        yield fake


@contextmanager
def fake_wechat() -> Iterator[RunningFake]:
    """The fake WeChat official-account API as a child process."""
    with running_fake("wechat", "--app-id", WECHAT_ID, "--app-secret", WECHAT_SECRET) as fake:
        yield fake


def fake_provider(channel: str) -> AbstractContextManager[RunningFake]:
    """The fake behind a bench channel: Twilio for `sms`, WeChat for `wechat`, Aliyun or
    Tencent for `aliyun` and `tencent` (which serve the `sms` code)."""
    if channel in CN_SMS:
        return CN_SMS[channel][0]()
    return fake_wechat() if channel == "wechat" else fake_twilio()


def wechat_channel(url: str, redis: Redis, key_prefix: str) -> WeChatChannel:
    """The real WeChat adapter pointed at the fake, sending dose reminders as templates."""
    return WeChatChannel(
        WeChatConfig(
            WECHAT_ID,
            WECHAT_SECRET,
            api_base_url=url,
            templates={"dose": WeChatTemplate(template_id="TPL-BENCH-DOSE", data=SUGGESTED_DATA)},
            key_prefix=key_prefix,
        ),
        redis,
    )


def twilio_channel(
    url: str, max_connections: int = 100, status_callback_base: str | None = None
) -> TwilioSmsChannel:
    """The real Twilio adapter pointed at the fake, unpaced: a real sender's rate is the
    carrier's limit, not the suite's, and would hide what is measured. With
    `status_callback_base` (the scheduler API's URL) each send asks for receipts."""
    return TwilioSmsChannel(
        TwilioConfig(
            account_sid=TWILIO_SID,
            auth_token=TWILIO_TOKEN,
            from_number=TWILIO_FROM,
            api_base_url=url,
            max_connections=max_connections,
            status_callback_base=status_callback_base,
        )
    )


def peak_rss_mb(pid: int | None = None) -> float | None:
    """Peak resident memory of a process (this one by default) in MB; None if unknown."""
    if pid is None:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of these processes so far (0 for one that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def percentiles(values: Sequence[float], *points: float) -> dict[str, float | None]:
    """Nearest-rank percentiles, e.g. `percentiles(v, 50, 99)` -> {"p50": ..., "p99": ...}."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for point in points:
        key = f"p{point:g}"
        if not ordered:
            out[key] = None
            continue
        rank = max(0, min(len(ordered) - 1, round(point / 100 * len(ordered) + 0.5) - 1))
        out[key] = round(ordered[rank], 4)
    return out


async def machine(db: Database, redis: Redis) -> dict[str, Any]:
    """The facts a reader needs to compare figures between machines."""
    async with db.engine.connect() as conn:
        postgres = (await conn.execute(text("SHOW server_version"))).scalar_one()
    version = await redis_version(redis)
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "redis": version,
        "postgresql": str(postgres).split()[0],
        "platform": platform.platform(terse=True),
        # Other work on the machine skews every figure: a load near the core count at the
        # start means the run shared the machine (docs/benchmarks.md reports quiet runs).
        "load_1m_at_end": round(os.getloadavg()[0], 2),
    }


def ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None
