"""MI sessions over HTTP on the real PostgreSQL (issue 22 part 2): logging with each bad
value refused by name, the two-session target of MMT CARE's intervention arm over time,
no target in its control arm, voiding that keeps the row, corrections within a day by the
author, clinic isolation, the report's figures on known data and the researchers' CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from services.scheduler.mi.models import MiSession
from services.scheduler.models import Patient
from services.scheduler.studies.export import PSEUDONYM_PURPOSE
from services.scheduler.studies.models import StudyParticipant
from shared.access.models import Clinic
from shared.access.staff import create_staff, get_staff, mint_staff_token
from shared.access.tokens import Role
from shared.crypto import IdentifierCipher, IdentifierSettings
from tests.conftest import TokenFactory
from tests.integration.test_scheduler_studies import CONSENT, World
from tests.integration.test_scheduler_studies import world as world  # the fixture

Headers = dict[str, str]
PASSWORD = "correct horse battery"
BACK = 100  # days: the participants were randomised this long ago


@dataclass
class Care:
    """MMT CARE with its clinics randomised: the intervention clinic's patients have the
    two-session target, the control clinic's none."""

    world: World
    on: int  # the intervention clinic
    off: int  # the control clinic
    on_code: str
    providers: dict[str, tuple[int, Headers]]  # login: staff id, a signed-in token's headers
    coordinator: Headers  # a token of the intervention clinic that names no person

    async def patient(self, number: str, clinic_id: int, *, study: bool = True) -> int:
        patient = await self.world.patient(number, clinic_id)
        if study:
            enrol = {"study_id": self.world.care, "consent": {**CONSENT, "version": "mmt-care-v1"}}
            made = await self.world.call(f"{patient}/studies", enrol, headers=self.world.admin)
            assert made.status_code == 201, made.text
        back = datetime.now(UTC) - timedelta(days=BACK)
        async with self.world.db.transaction() as session:
            await session.execute(
                update(Patient).where(Patient.id == patient).values(enrolled_at=back)
            )
            await session.execute(
                update(StudyParticipant)
                .where(StudyParticipant.patient_id == patient)
                .values(randomised_at=back, enrolled_at=back)
            )
        return patient

    async def log(self, patient: int, headers: Headers, **fields: Any) -> Any:
        body = {
            "held_on": date.today().isoformat(),
            "minutes": 20,
            "topic": "drug_use",
            "importance": 5,
            "confidence": 5,
            **fields,
        }
        return await self.world.client.post(
            f"/api/v1/patients/{patient}/mi-sessions", json=body, headers=headers
        )

    async def state(self, patient: int, on: date | None = None, **kw: Any) -> Any:
        query = f"?on={on.isoformat()}" if on else ""
        got = await self.world.client.get(
            f"/api/v1/patients/{patient}/mi-sessions{query}",
            headers=kw.get("headers", self.world.admin),
        )
        assert got.status_code == 200, got.text
        return got.json()


async def _provider(world: World, login: str, clinic_code: str) -> tuple[int, Headers]:
    made = await create_staff(
        world.access_db,
        login=login,
        name=login.split(".")[0].title(),
        role=Role.COORDINATOR,
        clinics=[clinic_code],
        password=PASSWORD,
    )
    staff = await get_staff(world.access_db, made.id)
    assert staff is not None
    token = await mint_staff_token(world.access_db, staff, timedelta(hours=1))
    return made.id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def care(world: World, make_token: TokenFactory) -> Care:
    clinics = {"clinics": [{"clinic_id": world.yx}, {"clinic_id": world.km}]}
    made = await world.client.post(
        f"/api/v1/studies/{world.care}/clinics", json=clinics, headers=world.admin
    )
    assert made.status_code == 201, made.text
    arms = {c["arm"]: c["clinic_id"] for c in made.json()}
    on, off = arms["intervention"], arms["control"]
    code = "YX" if on == world.yx else "KM"
    providers = {
        "li.na": await _provider(world, "li.na", code),
        "wang.fang": await _provider(world, "wang.fang", code),
    }
    coordinator = {"Authorization": f"Bearer {await make_token('coordinator', [code])}"}
    return Care(world, on, off, code, providers, coordinator)


async def test_a_session_is_logged_by_its_provider_and_each_bad_value_is_named(
    care: Care,
) -> None:
    patient = await care.patient("M-1", care.on)
    li_id, li = care.providers["li.na"]
    made = await care.log(patient, li, plan="Call his brother", importance=7, confidence=3)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["provider_staff_id"], body["provider_name"]) == (li_id, "Li (li.na)")
    assert (body["author_name"], body["plan"], body["voided"]) == (
        "Li (li.na)",
        "Call his brother",
        False,
    )

    for fields, status, field in (
        ({"importance": 11}, 400, "importance"),
        ({"confidence": -1}, 400, "confidence"),
        ({"minutes": 0}, 400, "minutes"),
        ({"minutes": 121}, 400, "minutes"),
        ({"topic": "weather"}, 400, "topic"),
        ({"topic_note": "x" * 201}, 400, "topic_note"),
        ({"plan": "x" * 501}, 400, "plan"),
        ({"mood": 3}, 400, "mood"),
    ):
        refused = await care.log(patient, li, **fields)
        assert refused.status_code == status, (fields, refused.text)
        [named] = refused.json()["extra"]  # the parser's: the field, or the unknown one
        assert named["key"] == field or f"`{field}`" in named["message"], refused.text
    future = (date.today() + timedelta(days=2)).isoformat()
    before = (date.today() - timedelta(days=BACK + 2)).isoformat()
    for fields, detail in (
        ({"held_on": future}, f"held_on: {future} is in the future"),
        ({"held_on": before}, f"held_on: {before} is before the patient's enrolment"),
        ({"provider_staff_id": 999_999}, "provider_staff_id: no active staff member 999999"),
    ):
        refused = await care.log(patient, li, **fields)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith(detail), refused.text
    nobody = await care.log(patient, care.coordinator)  # a token that names no person
    assert nobody.status_code == 422
    assert nobody.json()["detail"].startswith("provider_staff_id: required")
    wang_id, _ = care.providers["wang.fang"]
    named = await care.log(patient, care.coordinator, provider_staff_id=wang_id)
    assert named.status_code == 201
    assert named.json()["provider_name"] == "Wang (wang.fang)"
    listed = await care.state(patient)
    assert len(listed["sessions"]) == 2  # the refusals wrote nothing


async def test_the_two_session_target_over_time_and_none_in_the_control_arm(care: Care) -> None:
    patient = await care.patient("M-2", care.on)
    start = date.fromisoformat((await care.state(patient))["target"]["window_starts_on"])
    target = (await care.state(patient, start))["target"]
    assert {k: target[k] for k in ("source", "arm", "target", "held", "status")} == {
        "source": "study",
        "arm": "intervention",
        "target": 2,
        "held": 0,
        "status": "due",
    }
    assert target["window_ends_on"] == (start + timedelta(days=90)).isoformat()
    assert target["next_due_by"] == (start + timedelta(days=14)).isoformat()
    assert (await care.state(patient, start + timedelta(days=15)))["target"]["status"] == "overdue"

    _, li = care.providers["li.na"]
    first = await care.log(patient, li, held_on=(start + timedelta(days=10)).isoformat())
    assert first.status_code == 201, first.text
    for day, status, held in ((20, "on_track", 1), (62, "due", 1), (77, "overdue", 1)):
        target = (await care.state(patient, start + timedelta(days=day)))["target"]
        assert (target["status"], target["held"]) == (status, held), day
    assert (await care.state(patient, start + timedelta(days=91)))["target"]["status"] == "missed"
    second = await care.log(patient, li, held_on=(start + timedelta(days=70)).isoformat())
    assert second.status_code == 201
    target = (await care.state(patient, start + timedelta(days=91)))["target"]
    assert (target["status"], target["held"], target["next_session"]) == ("met", 2, None)

    # The control arm has no target, even where the clinic sets a default for others.
    default = await care.world.client.put(
        f"/api/v1/clinics/{care.off}/mi-sessions/target",
        json={"sessions": 1, "within_days": 60},
        headers=care.world.admin,
    )
    assert default.status_code == 200, default.text
    control = await care.patient("C-1", care.off)
    assert (await care.state(control))["target"] is None
    outside = await care.patient("C-2", care.off, study=False)
    target = (await care.state(outside))["target"]
    assert (target["source"], target["target"], target["status"]) == ("clinic", 1, "missed")


async def test_void_keeps_the_row_and_the_target_counts_it_no_more(care: Care) -> None:
    patient = await care.patient("M-3", care.on)
    _, li = care.providers["li.na"]
    ids = []
    for day in (5, 60):
        held_on = date.today() - timedelta(days=BACK - day)
        made = await care.log(patient, li, held_on=held_on.isoformat())
        ids.append(made.json()["id"])
    assert (await care.state(patient))["target"]["status"] == "met"
    url = f"/api/v1/mi-sessions/{ids[1]}"
    blank = await care.world.client.post(f"{url}/void", json={"reason": "  "}, headers=li)
    assert blank.status_code == 422
    voided = await care.world.client.post(
        f"{url}/void", json={"reason": "Logged for the wrong patient"}, headers=care.coordinator
    )
    assert voided.status_code == 200, voided.text
    assert (voided.json()["voided"], voided.json()["void_reason"]) == (
        True,
        "Logged for the wrong patient",
    )
    state = await care.state(patient)
    assert [s["id"] for s in state["sessions"]] == [ids[1], ids[0]]  # the row stays
    assert (state["target"]["held"], state["target"]["status"]) == (1, "missed")
    again = await care.world.client.post(f"{url}/void", json={"reason": "again"}, headers=li)
    assert again.status_code == 409
    changed = await care.world.client.patch(url, json={"minutes": 30}, headers=li)
    assert changed.status_code == 409


async def test_a_correction_within_a_day_by_its_author_or_an_admin(care: Care) -> None:
    patient = await care.patient("M-4", care.on)
    li_id, li = care.providers["li.na"]
    made = (await care.log(patient, li, plan="First plan")).json()
    url = f"/api/v1/mi-sessions/{made['id']}"
    # The same person signed in again (another token) may correct it; a colleague may not.
    staff = await get_staff(care.world.access_db, li_id)
    assert staff is not None
    token = await mint_staff_token(care.world.access_db, staff, timedelta(hours=1))
    again = {"Authorization": f"Bearer {token}"}
    fixed = await care.world.client.patch(
        url, json={"minutes": 35, "importance": 9, "plan": ""}, headers=again
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["minutes"], fixed.json()["importance"], fixed.json()["plan"]) == (
        35,
        9,
        None,
    )
    _, wang = care.providers["wang.fang"]
    assert (
        await care.world.client.patch(url, json={"minutes": 10}, headers=wang)
    ).status_code == 403
    bad = await care.world.client.patch(url, json={"importance": 12}, headers=li)
    assert bad.status_code == 400
    future = await care.world.client.patch(
        url, json={"held_on": (date.today() + timedelta(days=2)).isoformat()}, headers=li
    )
    assert future.status_code == 422
    async with care.world.db.transaction() as session:
        await session.execute(
            update(MiSession)
            .where(MiSession.id == made["id"])
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    late = await care.world.client.patch(url, json={"minutes": 40}, headers=care.world.admin)
    assert late.status_code == 409
    assert "void it with a reason" in late.json()["detail"]


async def test_another_clinics_staff_see_and_change_nothing(
    care: Care, make_token: TokenFactory
) -> None:
    patient = await care.patient("M-5", care.on)
    _, li = care.providers["li.na"]
    made = (await care.log(patient, li)).json()
    other_code = "KM" if care.on_code == "YX" else "YX"
    other = {"Authorization": f"Bearer {await make_token('coordinator', [other_code])}"}
    client = care.world.client
    assert (await care.log(patient, other, provider_staff_id=1)).status_code == 404
    for response in (
        await client.get(f"/api/v1/patients/{patient}/mi-sessions", headers=other),
        await client.patch(f"/api/v1/mi-sessions/{made['id']}", json={"minutes": 9}, headers=other),
        await client.post(
            f"/api/v1/mi-sessions/{made['id']}/void", json={"reason": "x"}, headers=other
        ),
        await client.get(f"/api/v1/clinics/{care.on}/mi-sessions/report", headers=other),
        await client.get(f"/api/v1/clinics/{care.on}/mi-sessions/target", headers=other),
    ):
        assert response.status_code == 404, response.text
    # A provider of the other clinic is refused as this patient's provider.
    km_id, _ = await _provider(care.world, "zhao.lei", other_code)
    refused = await care.log(patient, li, provider_staff_id=km_id)
    assert (refused.status_code, refused.json()["detail"].split(":")[0]) == (
        422,
        "provider_staff_id",
    )
    researcher = {"Authorization": f"Bearer {await make_token('researcher', [care.on_code])}"}
    assert (
        await client.get(f"/api/v1/patients/{patient}/mi-sessions", headers=researcher)
    ).status_code == 403


async def test_the_report_and_the_researchers_csv_on_known_data(
    care: Care, make_token: TokenFactory
) -> None:
    li_id, li = care.providers["li.na"]
    wang_id, wang = care.providers["wang.fang"]
    one, two, three = [await care.patient(f"R-{n}", care.on) for n in range(3)]
    # The clinic's dates: randomised BACK days ago, in its time zone.
    day = date.fromisoformat((await care.state(one))["target"]["window_starts_on"])

    async def held(
        patient: int, who: Headers, after: int, minutes: int, imp: int, conf: int
    ) -> None:
        made = await care.log(
            patient,
            who,
            held_on=(day + timedelta(days=after)).isoformat(),
            minutes=minutes,
            importance=imp,
            confidence=conf,
            plan="Not for researchers",
            topic_note="Not for researchers either",
        )
        assert made.status_code == 201, made.text

    await held(one, li, 3, 20, 6, 2)
    await held(one, wang, 40, 30, 8, 6)  # met
    await held(two, li, 5, 10, 4, 4)  # one of two
    await held(three, li, 95, 15, 9, 9)  # after the window: does not count
    control = await care.patient("R-C", care.off)
    reported = await care.world.client.get(
        f"/api/v1/clinics/{care.on}/mi-sessions/report", headers=care.coordinator
    )
    assert reported.status_code == 200, reported.text
    body = reported.json()
    assert body["statuses"] == {"met": 1, "missed": 2}
    [arm] = body["arms"]
    assert arm == {
        "group": "mmt-care/intervention",
        "clients_with_target": 3,
        "sessions": 3,
        "met": 1,
        "met_share": 0.3333,
        "mean_minutes": 20.0,
        "importance_first": 5.0,
        "importance_second": 8.0,
        "confidence_first": 3.0,
        "confidence_second": 6.0,
    }
    by_provider = {p["group"]: p for p in body["providers"]}
    assert set(by_provider) == {"Li (li.na)", "Wang (wang.fang)"}
    li_row = by_provider["Li (li.na)"]
    assert (li_row["clients_with_target"], li_row["sessions"], li_row["met"]) == (2, 2, 1)
    assert (li_row["mean_minutes"], li_row["importance_first"], li_row["importance_second"]) == (
        15.0,
        5.0,
        None,
    )
    wang_row = by_provider["Wang (wang.fang)"]
    assert (wang_row["sessions"], wang_row["met_share"], wang_row["confidence_second"]) == (
        1,
        1.0,
        6.0,
    )

    researcher = {"Authorization": f"Bearer {await make_token('researcher', [care.on_code])}"}
    blind = await care.world.client.get(
        f"/api/v1/clinics/{care.on}/mi-sessions/report", headers=researcher
    )
    assert blind.status_code == 200
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    assert {p["group"] for p in blind.json()["providers"]} == {
        cipher.pseudonym(f"staff-{li_id}", PSEUDONYM_PURPOSE),
        cipher.pseudonym(f"staff-{wang_id}", PSEUDONYM_PURPOSE),
    }

    url = f"/api/v1/studies/{care.world.care}/mi-sessions.csv"
    assert (await care.world.client.get(url, headers=care.coordinator)).status_code == 403
    got = await care.world.client.get(url, headers=researcher)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert list(rows[0]) == [
        "study",
        "participant",
        "clinic_id",
        "arm",
        "provider",
        "session_number",
        "days_after_randomisation",
        "minutes",
        "topic",
        "importance",
        "confidence",
        "target",
        "target_met",
    ]
    pseudonym = {p: cipher.pseudonym(str(p), PSEUDONYM_PURPOSE) for p in (one, two, three, control)}
    assert [
        (r["participant"], r["session_number"], r["days_after_randomisation"], r["target_met"])
        for r in rows
    ] == [
        (pseudonym[one], "1", "3", "1"),
        (pseudonym[one], "2", "40", "1"),
        (pseudonym[two], "1", "5", "0"),
    ]
    assert {r["provider"] for r in rows} == {
        cipher.pseudonym(f"staff-{li_id}", PSEUDONYM_PURPOSE),
        cipher.pseudonym(f"staff-{wang_id}", PSEUDONYM_PURPOSE),
    }
    async with care.world.access_db.sessions() as session:
        names = [n for (n,) in await session.execute(select(Clinic.name))]
    cells = [v for r in rows for k, v in r.items() if k not in ("participant", "provider")]
    for secret in ("Not for researchers", "li.na", "Li", "Wang", "W.L.", *names):
        assert not any(secret in cell for cell in cells), secret


async def test_the_study_export_counts_sessions_per_period_and_the_target(care: Care) -> None:
    _, li = care.providers["li.na"]
    on, off = await care.patient("E-1", care.on), await care.patient("E-2", care.off)
    start = date.fromisoformat((await care.state(on))["target"]["window_starts_on"])
    for after in (3, 40):
        made = await care.log(on, li, held_on=(start + timedelta(days=after)).isoformat())
        assert made.status_code == 201, made.text
    got = await care.world.client.get(
        f"/api/v1/studies/{care.world.care}/export", headers=care.world.admin
    )
    assert got.status_code == 200, got.text
    rows = {
        (r["participant"], r["time_point"]): (r["mi_sessions"], r["mi_target_met"])
        for r in csv.DictReader(io.StringIO(got.text))
    }
    assert rows[(str(on), "baseline")] == ("0", "0")
    assert rows[(str(on), "month-3")] == ("2", "1")
    assert rows[(str(off), "month-3")] == ("0", "")  # the control arm sets no target
    dictionary = await care.world.client.get(
        f"/api/v1/studies/{care.world.care}/dictionary", headers=care.world.admin
    )
    assert {"mi_sessions", "mi_target_met"} <= {
        r["variable"] for r in csv.DictReader(io.StringIO(dictionary.text))
    }
