"""Provider webhooks served below Litestar's request layer, for the busiest ones.

A national morning brings a delivery receipt for every one of 200,000 messages, and
Twilio posts each as its own request. Through a Litestar `@post` handler one receipt cost
0.41 ms of the API's CPU, of which the framework's request and response objects, its
signature model, the `before_request` hook and the Prometheus middleware took about a
third; the same work as a Litestar ASGI route, reading the body and answering plainly,
cost 0.31 (docs/benchmarks.md). The route stays in the app: same routing, lifespan, state
and exception handling, and the access policy still sees it as open.

What the framework did for the `@post` route is done here, for every lean webhook:
- only POST (OPTIONS answers what is allowed; any other method 405);
- the body is read up to a limit and refused with 413 past it;
- a NUL in the path, query or body is refused with 400, as `shared/web_input.py` does
  for every other route: no column can hold one;
- each request is counted and timed by path and status (`mmt_webhook_requests_total`,
  `mmt_webhook_request_seconds`), in place of the HTTP middleware's metrics, which these
  routes opt out of (`OWN_METRICS`).

The OpenAPI document does not list ASGI routes: these are described in the README, as
the providers' own documents describe what they send.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from litestar import asgi
from litestar.datastructures import State
from litestar.handlers import ASGIRouteHandler
from litestar.types import HTTPResponseStartEvent, Receive, Scope, Send
from prometheus_client import Counter, Histogram

from shared.access.web import OPEN
from shared.web_input import NUL_REFUSED, body_has_nul, url_has_nul
from shared.web_push import BodyTooLarge, collect_capped

OWN_METRICS = "own_metrics"  # the opt key PrometheusConfig(exclude_opt_key=...) skips

WEBHOOK_REQUESTS = Counter(
    "mmt_webhook_requests_total",
    "Requests to the lean provider webhooks (the delivery receipts' and inbound SMS'), "
    "by path and answer status.",
    ["path", "status"],
)
WEBHOOK_SECONDS = Histogram(
    "mmt_webhook_request_seconds",
    "Time from a lean provider webhook's request to its answer, by path.",
    ["path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """A provider's request as a webhook reads it."""

    path: str
    query_string: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    state: State

    def query(self, name: str) -> str | None:
        return dict(parse_qsl(self.query_string, keep_blank_values=True)).get(name)

    def url(self, public_base: str) -> str:
        """The URL as the provider called it, behind a proxy: the public base with this
        request's path and query (what Twilio signs)."""
        query = f"?{self.query_string}" if self.query_string else ""
        return public_base.rstrip("/") + self.path + query


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str = ""
    media_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


Webhook = Callable[[ProviderCall], Awaitable[Answer]]
BodyLimit = Callable[[State], int]


def _app_body_limit(state: State) -> int:
    return int(state.settings.access.max_body_bytes)


def provider_webhook(
    path: str, *, body_limit: BodyLimit = _app_body_limit
) -> Callable[[Webhook], ASGIRouteHandler]:
    """Serve `webhook` at `path` (POST) as a lean ASGI route."""

    def decorate(webhook: Webhook) -> ASGIRouteHandler:
        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            started = time.perf_counter()
            try:
                answer = await _answer(webhook, scope, receive, body_limit)
            except Exception:  # the app's exception handler logs it and answers 500
                WEBHOOK_REQUESTS.labels(path, "500").inc()
                raise
            await _send(send, answer)
            WEBHOOK_REQUESTS.labels(path, str(answer.status)).inc()
            WEBHOOK_SECONDS.labels(path).observe(time.perf_counter() - started)

        serve.__name__ = serve.__qualname__ = webhook.__name__
        serve.__doc__ = webhook.__doc__
        # copy_scope=False: the handler does not change the scope, and copying it cost.
        return asgi(path, opt={**OPEN, OWN_METRICS: True}, copy_scope=False)(serve)

    return decorate


async def _answer(webhook: Webhook, scope: Scope, receive: Receive, limit: BodyLimit) -> Answer:
    method = scope.get("method", "")
    if method == "OPTIONS":
        return Answer(204, headers={"Allow": "OPTIONS, POST"})
    if method != "POST":
        return Answer(405, f"{method} is not allowed here", headers={"Allow": "OPTIONS, POST"})
    state: State = scope["litestar_app"].state
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    try:
        body = await collect_capped(
            _chunks(receive), headers.get("content-length", ""), limit(state)
        )
    except BodyTooLarge as exc:
        return Answer(413, str(exc))
    query: bytes = scope["query_string"]
    path: str = scope["path"]
    if url_has_nul(path, query):
        return Answer(400, NUL_REFUSED)
    if body_has_nul(body, headers.get("content-type", "").lower()):
        return Answer(400, NUL_REFUSED)
    call = ProviderCall(path, query.decode("latin-1"), headers, body, state)
    return await webhook(call)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as the server hands them over."""
    while True:
        event: Any = await receive()
        if event["type"] == "http.disconnect":
            return
        yield event.get("body", b"")
        if not event.get("more_body", False):
            return


async def _send(send: Send, answer: Answer) -> None:
    body = answer.text.encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", answer.media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers.items()),
    ]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": answer.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
