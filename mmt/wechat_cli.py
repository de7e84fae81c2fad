"""`mmt wechat menu`: publish the official account's custom menu from a file in the repo.

The menu's click buttons send our feedback webhook a CLICK event whose key stands for a
reply keyword (services/feedback/wechat_webhook.py: `MY_RECORD` is RECORD, which answers
with the patient's record and a fresh link to their record page; `HELP` is HELP). WeChat
checks the menu itself (button counts, name lengths: errcodes 40016-40019) and its refusal
is printed as it came; exit code 1.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.bus.connect import connect_redis
from shared.channels import SendFailed
from shared.channels.factory import wechat_account
from shared.channels.settings import ChannelsConfig
from shared.settings import get_settings

wechat = typer.Typer(help="The WeChat official account: its custom menu.", no_args_is_help=True)
MENU_FILE = Path("wechat") / "menu.json"  # from the repo (or the image's working folder)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_menu(path: Path) -> dict[str, Any]:
    """The menu in `path`, or Exit naming the file, line and what is wrong."""
    try:
        menu = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise _fail(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(menu, dict) or not isinstance(menu.get("button"), list):
        raise _fail(f'{path}: button: give a list of buttons, {{"button": [...]}}')
    checked: dict[str, Any] = menu
    return checked


@wechat.command("menu")
def menu(
    file: Annotated[Path, typer.Option(help="The menu, as WeChat's menu/create JSON.")] = MENU_FILE,
) -> None:
    """Publish the account's menu (replacing the one it has) through /cgi-bin/menu/create."""
    published = read_menu(file)
    settings = get_settings()
    if not settings.bus.redis_url:
        raise _fail("REDIS_URL is not set (the account's access token is shared there)", 2)

    async def publish() -> None:
        redis = connect_redis(settings.bus.redis_url or "")
        account = wechat_account(redis, ChannelsConfig(), settings.bus.bus_prefix)
        try:
            if account is None:
                raise _fail("CHANNEL_WECHAT is not wechat: there is no official account to set")
            try:
                await account.create_menu(published)
            finally:
                await account.aclose()
        finally:
            await redis.aclose()

    try:
        asyncio.run(publish())
    except SendFailed as exc:
        raise _fail(f"WeChat refused the menu: {exc}") from None
    names = ", ".join(str(button.get("name")) for button in published["button"])
    typer.echo(f"published the menu from {file}: {names}")
