"""A need assigned to a staff member through the feedback API: only an active account of
the need's clinic (or an admin) may take it, the refusal names the field and says the
same for unknown logins and other clinics' staff, null takes the assignment away, the
list filters by assignee, and the change is audited under the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.access.audit import AuditFilter, query_audit
from shared.access.staff import create_staff, disable_staff
from shared.access.tokens import Role
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.test_feedback_needs import seeded as seeded  # the fixture

Client = AsyncTestClient[Litestar]
PASSWORD = "correct horse battery"


@pytest.fixture
async def client(
    seeded: tuple[int, int], app_settings: Settings, make_token: TokenFactory, access_db: Database
) -> AsyncIterator[Client]:
    for login, role, clinics in (
        ("li.na", Role.COORDINATOR, ["YX-A"]),
        ("chen.km", Role.COORDINATOR, ["KM-B"]),
        ("old.hand", Role.COORDINATOR, ["YX-A"]),
        ("zhao.admin", Role.ADMIN, []),
    ):
        await create_staff(
            access_db, login=login, name=login, role=role, clinics=clinics, password=PASSWORD
        )
    await disable_staff(access_db, "old.hand")
    coordinator = await make_token("coordinator", ["YX-A"])
    async with AsyncTestClient(app=build_service_app("feedback", app_settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {coordinator}"
        yield test_client


async def _a_need(client: Client) -> int:
    needs = (await client.get("/api/v1/needs")).json()
    need_id: int = needs[0]["id"]
    return need_id


async def test_a_need_is_assigned_to_a_staff_member_of_its_clinic_and_taken_back(
    client: Client, access_db: Database
) -> None:
    need_id = await _a_need(client)
    assigned = await client.patch(f"/api/v1/needs/{need_id}", json={"assignee": " Li.Na "})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == "li.na"
    assert (await client.get(f"/api/v1/needs/{need_id}")).json()["assignee"] == "li.na"
    mine = (await client.get("/api/v1/needs?assignee=li.na")).json()
    assert [n["id"] for n in mine] == [need_id]
    by_admin = await client.patch(f"/api/v1/needs/{need_id}", json={"assignee": "zhao.admin"})
    assert by_admin.json()["assignee"] == "zhao.admin"
    moved = await client.patch(f"/api/v1/needs/{need_id}", json={"status": "in_progress"})
    assert moved.json()["assignee"] == "zhao.admin"  # absent: unchanged
    cleared = await client.patch(f"/api/v1/needs/{need_id}", json={"assignee": None})
    assert cleared.json()["assignee"] is None
    entries = await query_audit(access_db, AuditFilter(resource_type="need", limit=100))
    patched = [e for e in entries if e.method == "PATCH"]
    assert len(patched) == 4
    assert {e.resource_id for e in patched} == {str(need_id)}


@pytest.mark.parametrize("login", ["chen.km", "nobody", "old.hand"])
async def test_only_an_active_account_of_the_clinic_may_take_a_need(
    client: Client, login: str
) -> None:
    need_id = await _a_need(client)
    refused = await client.patch(f"/api/v1/needs/{need_id}", json={"assignee": login})
    assert refused.status_code == 400
    # Another clinic's coordinator, an unknown login and a disabled one: the same answer.
    assert refused.json()["detail"] == (
        f"assignee: no active staff member of this clinic has login {login!r}"
    )
    assert (await client.get(f"/api/v1/needs/{need_id}")).json()["assignee"] is None


async def test_an_assignee_outside_the_schema_is_refused_by_the_parser(client: Client) -> None:
    need_id = await _a_need(client)
    for bad in ("", "x" * 65, 7):
        refused = await client.patch(f"/api/v1/needs/{need_id}", json={"assignee": bad})
        assert refused.status_code == 400
        assert refused.json()["extra"][0]["key"] == "assignee"
