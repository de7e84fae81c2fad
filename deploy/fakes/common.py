"""What every fake provider shares: knobs, counters, chaos, the admin routes, `main`.

Knobs start from command-line flags (or FAKE_* environment variables) and can be changed
while the fake runs with `POST /_fake/config` (a JSON object of knobs), so one fake process
serves a whole test module; `POST /_fake/reset` puts knobs and counters back.
`GET /_fake/texts?to=<address>` lists the texts a fake accepted for one address, in order
(the feedback worker's answers, which `mmt sandbox reply` prints).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, TypeVar

import aiohttp
import msgspec
from aiohttp import web

STATE: web.AppKey[FakeState[Any]] = web.AppKey("fake_state")
# What a captive portal or a misconfigured proxy answers in the provider's place.
GARBAGE = "<html><head><title>Gateway</title></head><body>Please sign in</body></html>"


@dataclass
class Chaos:
    """Knobs every fake has. Rates are probabilities per request (1.0: every request)."""

    error_rate: float = 0.0  # answer 503
    rate_limit_rate: float = 0.0  # answer 429 with Retry-After
    retry_after_s: int | None = 2  # None: the 429 carries no Retry-After
    latency_ms: float = 0.0
    garbage_rate: float = 0.0  # answer 200 with an HTML page (a proxy's or a portal's)


K = TypeVar("K")


@dataclass
class FakeState(Generic[K]):
    knobs: K
    initial: K
    accepted: Counter[str] = field(default_factory=Counter)  # messages per destination
    counters: Counter[str] = field(default_factory=Counter)  # requests, rejections, ...
    # address -> the texts accepted for it, in order (template values joined, for a vendor)
    texts: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    on_reset: Callable[[], None] | None = None  # a fake's own state to clear

    @classmethod
    def start(cls, knobs: K) -> FakeState[K]:
        return cls(knobs=knobs, initial=copy.deepcopy(knobs))

    def reset(self) -> None:
        self.knobs = copy.deepcopy(self.initial)
        self.accepted.clear()
        self.counters.clear()
        self.texts.clear()
        if self.on_reset is not None:
            self.on_reset()

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "total_accepted": sum(self.accepted.values()),
            "duplicates": {k: n for k, n in self.accepted.items() if n > 1},
            **dict(self.counters),
        }


def json_answer(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """`web.json_response`, encoded by msgspec: in a morning's benchmark the fake shares the
    cores with the suite it measures, and `json.dumps` of every message resource (and of the
    accepted messages' log, read as it grows) was about 4 % of the fake's samples."""
    return web.Response(
        body=_encode(body), status=status, headers=headers, content_type="application/json"
    )


_encode = msgspec.json.Encoder().encode


def chaos_of(knobs: Any) -> Chaos:
    return knobs.chaos if hasattr(knobs, "chaos") else Chaos()


async def chaos_answer(
    state: FakeState[Any], too_many: Callable[[int], web.Response], busy: Callable[[], web.Response]
) -> web.Response | None:
    """Latency, then maybe a 429 or a 5xx in the provider's own format; None: go on."""
    chaos = chaos_of(state.knobs)
    if chaos.latency_ms:
        await asyncio.sleep(chaos.latency_ms / 1000)
    if chaos.rate_limit_rate and random.random() < chaos.rate_limit_rate:  # noqa: S311
        state.counters["rate_limited"] += 1
        answer = too_many(chaos.retry_after_s or 0)
        if chaos.retry_after_s is None:
            answer.headers.popall("Retry-After", None)
        return answer
    if chaos.error_rate and random.random() < chaos.error_rate:  # noqa: S311
        state.counters["server_errors"] += 1
        return busy()
    if chaos.garbage_rate and random.random() < chaos.garbage_rate:  # noqa: S311
        state.counters["garbage"] += 1
        return web.Response(status=200, text=GARBAGE, content_type="text/html")
    return None


def _update(target: Any, changes: dict[str, Any]) -> None:
    names = {f.name for f in fields(target)}
    for name, value in changes.items():
        if name == "chaos" and isinstance(value, dict):
            _update(target.chaos, value)
        elif name in {f.name for f in fields(Chaos)} and hasattr(target, "chaos"):
            setattr(target.chaos, name, value)
        elif name in names:
            current = getattr(target, name)
            setattr(target, name, set(value) if isinstance(current, set) else value)
        else:
            raise KeyError(name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def _get_config(request: web.Request) -> web.Response:
    return web.json_response(_jsonable(asdict(request.app[STATE].knobs)))


async def _set_config(request: web.Request) -> web.Response:
    changes = await request.json()
    try:
        _update(request.app[STATE].knobs, changes)
    except KeyError as exc:
        return web.json_response({"error": f"unknown knob {exc.args[0]}"}, status=400)
    return await _get_config(request)


async def _texts(request: web.Request) -> web.Response:
    texts = request.app[STATE].texts.get(request.query.get("to", ""), [])
    return web.json_response({"texts": texts})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


def new_app(state: FakeState[Any]) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/_fake/stats", _stats)
    app.router.add_get("/_fake/texts", _texts)
    app.router.add_get("/_fake/config", _get_config)
    app.router.add_post("/_fake/config", _set_config)
    app.router.add_post("/_fake/reset", _reset)
    return app


def parser(description: str) -> argparse.ArgumentParser:
    """Flags every fake takes; each defaults to its FAKE_* environment variable."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=env("FAKE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("FAKE_PORT", "0") or 0))
    parser.add_argument(
        "--error-rate", type=float, default=float(env("FAKE_ERROR_RATE", "0")), help="5xx share"
    )
    parser.add_argument(
        "--rate-limit-rate",
        type=float,
        default=float(env("FAKE_RATE_LIMIT_RATE", "0")),
        help="429 share",
    )
    parser.add_argument(
        "--retry-after", type=int, default=int(env("FAKE_RETRY_AFTER", "2")), help="seconds"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=float(env("FAKE_LATENCY_MS", "0")), help="per request"
    )
    return parser


def chaos_from(args: argparse.Namespace) -> Chaos:
    return Chaos(args.error_rate, args.rate_limit_rate, args.retry_after, args.latency_ms)


def listed(value: str | None) -> set[str]:
    """A comma-separated flag or environment value as a set."""
    return {item.strip() for item in (value or "").split(",") if item.strip()}


def run(app: web.Application, args: argparse.Namespace, name: str) -> None:
    if not args.port:
        raise SystemExit(f"{name}: --port (or FAKE_PORT) is required")
    # The line tests and people wait for; flushed at once so a pipe sees it.
    print(f"fake {name} listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


async def forward_inbound(
    client: aiohttp.ClientSession,
    state: FakeState[Any],
    url: str,
    data: Any,
    headers: dict[str, str],
    replies_in: Callable[[str], list[str]],
) -> web.Response:
    """Post a patient's message to the service as the provider would, and answer what the
    service said: its status, the texts the patient would receive, and its raw answer."""
    state.counters["inbound"] += 1
    try:
        async with client.post(url, data=data, headers=headers) as answer:
            status, text = answer.status, await answer.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        state.counters["inbound_failed"] += 1
        where = url.split("?", 1)[0]
        return web.json_response(
            {"error": f"{where} did not answer ({type(exc).__name__})"}, status=502
        )
    replies = replies_in(text) if status == 200 else []
    state.counters["inbound_replies"] += len(replies)
    return web.json_response({"status": status, "replies": replies, "answer": text})
