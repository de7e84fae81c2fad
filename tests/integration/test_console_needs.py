"""A need's page in the console: the patient's words escaped, a status move and a
follow-up note through the feedback API, a refused change that keeps what was typed,
and another clinic's URL answered 404 before any API call."""

from __future__ import annotations

import re

from tests.integration.consoleutil import SCRIPT_NEED, World, csrf_of
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world

_NEED_LINK = re.compile(r'href="(/clinics/\d+/needs/\d+)"')


async def _urgent_need_path(world: World, client: Client) -> str:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    urgent = today.text.split('class="urgent"')[1]
    found = _NEED_LINK.search(urgent)
    assert found, "the urgent need links to its page"
    return found.group(1)


async def test_a_need_is_moved_along_with_a_note_and_its_words_stay_escaped(
    world: World, client: Client
) -> None:
    path = await _urgent_need_path(world, client)
    shown = await client.get(path)
    assert shown.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    assert "<script>alert(1)" not in shown.text
    assert "待处理" in shown.text
    assert "还没有记录" in shown.text

    note = "已电话联系，今天下午来门诊面谈"
    saved = await client.post(
        path,
        data={"status": "in_progress", "note": note, "_csrf_token": csrf_of(shown.text)},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, path)
    after = await client.get(path)
    assert note in after.text
    assert '<option value="in_progress" selected>' in after.text
    posted = [c for c in world.services.seen if not c.startswith("GET")]
    assert [c.split(" ")[0] for c in posted] == ["PATCH", "POST"]


async def test_a_refused_change_keeps_the_typed_note(world: World, client: Client) -> None:
    path = await _urgent_need_path(world, client)
    shown = await client.get(path)
    token = csrf_of(shown.text)
    await client.post(path, data={"status": "resolved", "_csrf_token": token})
    # resolved -> new is not a move the API allows (409): the form comes back, note kept
    typed = "不要丢掉这段记录"
    refused = await client.post(path, data={"status": "new", "note": typed, "_csrf_token": token})
    assert refused.status_code == 400
    assert "修改未被接受" in refused.text
    assert f">{typed}</textarea>" in refused.text
    assert typed not in refused.text.split('id="notes"')[1].split("</section>")[0]


async def test_another_clinics_need_url_is_404_without_an_api_call(
    world: World, client: Client
) -> None:
    path = await _urgent_need_path(world, client)
    need_id = path.rsplit("/", 1)[1]
    world.services.seen.clear()
    other = await client.get(f"/clinics/{world.km}/needs/{need_id}")
    assert other.status_code == 404
    assert world.services.seen == []
    assert SCRIPT_NEED not in other.text
