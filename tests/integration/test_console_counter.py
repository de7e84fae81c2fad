"""At the counter, over HTTP: one scan of a patient's card records the dose (once a day;
another clinic's card records nothing), the card page prints the code, and follow-up
notes with an outcome on alerts and needs carry the writer's name."""

from __future__ import annotations

import re

from sqlalchemy import select

from services.scheduler.models import Dose, Patient
from shared.db import Database
from tests.integration.consoleutil import World, csrf_of
from tests.integration.schedutil import context, enrol
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world
from tests.integration.test_scheduler_api import add_alert

_CODE = re.compile(r'<p class="card-code">([0-9A-F ]+)</p>')
HX = {"HX-Request": "true"}


async def _card_code(client: Client, path: str) -> str:
    card = await client.get(f"{path}/card")
    assert card.status_code == 200
    assert "<svg" in card.text  # the QR code, inline
    found = _CODE.search(card.text)
    assert found, "the card shows its code in digits"
    return found.group(1)


async def _km_patient(scheduler_db: Database, access_db: Database, world: World) -> str:
    """A patient of clinic KM (not the coordinator's); their card's code."""
    theirs = await enrol(context(scheduler_db, access_db), world.km, "KM-0009")
    async with scheduler_db.sessions() as session:
        code = await session.scalar(select(Patient.card_code).where(Patient.id == theirs.id))
    assert code is not None  # made on insert
    return code


async def test_one_scan_records_the_dose_and_a_second_says_when(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    await sign_in(client)
    client.cookies.set("console_lang", "en")
    pid = world.patient_ids["YX-002"]
    path = f"/clinics/{world.yx}/patients/{pid}"
    assert f'href="{path}/card"' in (await client.get(path)).text
    code = await _card_code(client, path)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert 'id="scan-code"' in today.text
    token = csrf_of(today.text)
    scan = f"/clinics/{world.yx}/scan"

    board = await client.post(scan, data={"code": code, "_csrf_token": token}, headers=HX)
    assert board.status_code == 200
    assert board.text.startswith('<div id="board">')
    assert "Dose recorded: 王芳 (YX-002) at" in board.text
    assert "王芳" in board.text.split('id="dosed"')[1]
    again = await client.post(scan, data={"code": code.lower(), "_csrf_token": token})
    assert again.status_code == 200  # without htmx: the whole page
    assert "<html" in again.text
    assert re.search(r"王芳 \(YX-002\) was already dosed today at \d\d:\d\d", again.text)

    other = await _km_patient(scheduler_db, access_db, world)
    refused = await client.post(scan, data={"code": other, "_csrf_token": token}, headers=HX)
    assert refused.status_code == 400
    assert "This card is not a patient of this clinic: nothing recorded." in refused.text
    garbled = await client.post(scan, data={"code": "王芳", "_csrf_token": token}, headers=HX)
    assert "Not a patient card" in garbled.text, garbled.text[:600]
    async with scheduler_db.sessions() as session:
        doses = (await session.execute(select(Dose.patient_id))).scalars().all()
    assert doses == [pid]  # one dose, the scanned patient's; nothing for KM's card

    # A lost card: a new code; the old one records nothing any more.
    replaced = await client.post(
        f"{path}/card", data={"_csrf_token": token}, follow_redirects=False
    )
    assert replaced.status_code == 303
    assert await _card_code(client, path) != code
    old = await client.post(scan, data={"code": code, "_csrf_token": token}, headers=HX)
    assert "not a patient of this clinic" in old.text


async def test_follow_up_notes_on_an_alert_and_a_need_carry_the_writers_name(
    world: World, client: Client, scheduler_db: Database
) -> None:
    pid = world.patient_ids["YX-001"]
    alert_id = await add_alert(scheduler_db, pid, world.yx)
    await sign_in(client)
    client.cookies.set("console_lang", "en")
    today = await client.get(f"/clinics/{world.yx}/today")
    token = csrf_of(today.text)
    notes = f"/clinics/{world.yx}/alerts/{alert_id}/followups"

    empty = await client.post(
        notes, data={"text": " ", "outcome": "referred", "_csrf_token": token}, headers=HX
    )
    assert empty.status_code == 400
    assert "the note needs text" in empty.text
    assert '<option value="referred" selected>' in empty.text  # what was chosen is kept
    board = await client.post(
        notes,
        data={"text": "Phoned: no answer", "outcome": "not_reachable", "_csrf_token": token},
        headers=HX,
    )
    assert board.status_code == 200
    assert "李娜 (li.na)" in board.text
    assert "Not reachable" in board.text
    assert "Phoned: no answer" in board.text
    assert "Dropout risk" in board.text  # a note does not acknowledge

    page = f"/clinics/{world.yx}/patients/{pid}"
    back = await client.post(
        notes,
        data={
            "text": "Came in",
            "outcome": "resolved",
            "patient_id": str(pid),
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == f"{page}#alerts"
    shown = (await client.get(page)).text
    alerts = shown.split('id="alerts"')[1].split('id="needs"')[0]
    assert alerts.index("Phoned: no answer") < alerts.index("Came in")
    assert "Resolved" in alerts

    inbox = await client.get(f"/clinics/{world.yx}/needs")
    need_path = re.search(rf'href="(/clinics/{world.yx}/needs/\d+)"', inbox.text)
    assert need_path
    await client.post(need_path.group(1), data={"note": "Called back", "_csrf_token": token})
    need = await client.get(need_path.group(1))
    assert "李娜 (li.na)</span>: Called back" in need.text
