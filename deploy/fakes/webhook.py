"""A fake receiver for the webhook channel: checks signatures, answers as configured.

    python -m deploy.fakes.webhook --port 9103 [--secret ...] [--opted-out a,b] [--refused c]
        [--error-rate 0.1 --rate-limit-rate 0.1 --latency-ms 50]

Any POST path. A request whose X-MMT-Signature does not verify gets 401; an address in
`opted_out` gets 410; in `refused`, 400 with an error that quotes it (as careless receivers
do); otherwise 200 `{"id": "wh-..."}`, counted per address.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from aiohttp import web

from deploy.fakes.common import (
    STATE,
    Chaos,
    FakeState,
    chaos_answer,
    chaos_from,
    listed,
    new_app,
    parser,
    run,
)
from shared.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook_signature


@dataclass
class WebhookKnobs:
    secret: str = "fake-webhook-secret-of-at-least-32-chars"  # noqa: S105 (test credential)
    opted_out: set[str] = field(default_factory=set)  # 410
    refused: set[str] = field(default_factory=set)  # 400
    chaos: Chaos = field(default_factory=Chaos)


async def receive(request: web.Request) -> web.Response:
    state: FakeState[WebhookKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["requests"] += 1
    body = await request.read()
    if not verify_webhook_signature(
        knobs.secret,
        request.headers.get(TIMESTAMP_HEADER),
        body,
        request.headers.get(SIGNATURE_HEADER),
    ):
        state.counters["bad_signatures"] += 1
        return web.json_response({"error": "bad signature"}, status=401)
    chaos = await chaos_answer(
        state,
        lambda after: web.json_response(
            {"error": "slow down"}, status=429, headers={"Retry-After": str(after)}
        ),
        lambda: web.json_response({"error": "unavailable"}, status=503),
    )
    if chaos is not None:
        return chaos
    try:
        message = await request.json()
        address = str(message["address"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "not a message"}, status=400)
    if address in knobs.opted_out:
        return web.json_response({"error": "recipient unsubscribed"}, status=410)
    if address in knobs.refused:
        return web.json_response({"error": f"unknown recipient {address}"}, status=400)
    state.accepted[address] += 1
    return web.json_response({"id": "wh-" + secrets.token_hex(8)})


def create_app(knobs: WebhookKnobs) -> web.Application:
    app = new_app(FakeState.start(knobs))
    app.router.add_post("/{tail:.*}", receive)
    return app


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    cli = parser("A fake receiver for the webhook channel.")
    cli.add_argument("--secret", default=env("FAKE_WEBHOOK_SECRET", WebhookKnobs.secret))
    cli.add_argument("--opted-out", default=env("FAKE_WEBHOOK_OPTED_OUT", ""), help="410")
    cli.add_argument("--refused", default=env("FAKE_WEBHOOK_REFUSED", ""), help="400")
    args = cli.parse_args(argv)
    knobs = WebhookKnobs(
        secret=args.secret,
        opted_out=listed(args.opted_out),
        refused=listed(args.refused),
        chaos=chaos_from(args),
    )
    run(create_app(knobs), args, "webhook")


if __name__ == "__main__":
    main()
