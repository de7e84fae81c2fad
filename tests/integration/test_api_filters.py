"""Every bad filter value is a 400 with the reason, and each OpenAPI document says what the
server enforces (issue 17: the schemathesis findings, one regression test each)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content import schemas as content_schemas
from services.feedback import schemas as feedback_schemas
from services.scheduler import schemas as scheduler_schemas
from shared.access.clinics import ClinicIn, ClinicPatch
from shared.db import Database
from shared.openapi_schemas import EXAMPLES
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic

Client = AsyncTestClient[Litestar]

SCHEDULER_INSTANT_ROUTES = ["/api/v1/audit"]
FEEDBACK_INSTANT_ROUTES = [
    "/api/v1/needs",
    "/api/v1/feedback",
    "/api/v1/exports/replies.csv",
    "/api/v1/exports/survey-answers.csv",
    "/api/v1/exports/research/replies.csv",
    "/api/v1/exports/research/survey-answers.csv",
    "/api/v1/reports/ratings",
    "/api/v1/reports/needs",
]


@pytest.fixture
async def apps(
    app_settings: Settings,
    access_db: Database,
    scheduler_db: Database,
    feedback_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[tuple[Client, Client, int]]:
    yx = await clinic(access_db, "YX")
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with (
        AsyncTestClient(app=build_service_app("scheduler", app_settings)) as scheduler,
        AsyncTestClient(app=build_service_app("feedback", app_settings)) as feedback,
    ):
        scheduler.headers.update(admin)
        feedback.headers.update(admin)
        yield scheduler, feedback, yx


def _refused(response: Any, key: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status_code"] == 400
    keys = [item["key"] for item in body.get("extra", [])]
    assert key in keys, body
    return str(body)


@pytest.mark.parametrize("bad", ["0.5", "1700000000", "2026-11-20T00:00:00", "2026-11-20"])
async def test_a_date_time_filter_is_rfc3339_with_an_offset_on_all_nine_routes(
    apps: tuple[Client, Client, int], bad: str
) -> None:
    scheduler, feedback, _ = apps
    routes = [(scheduler, r) for r in SCHEDULER_INSTANT_ROUTES]
    routes += [(feedback, r) for r in FEEDBACK_INSTANT_ROUTES]
    assert len(routes) == 9
    for client, route in routes:
        for name in ("since", "until"):
            if name == "until" and "reports" in route:
                continue  # reports take `since` only
            reason = _refused(await client.get(route, params={name: bad}), name)
            assert "RFC 3339" in reason
            assert "UTC offset" in reason
        good = await client.get(route, params={"since": "2026-11-20T00:00:00.5+08:00"})
        assert good.status_code == 200, (route, good.text)


async def test_enum_filters_refuse_unknown_values(apps: tuple[Client, Client, int]) -> None:
    scheduler, feedback, yx = apps
    _refused(await scheduler.get("/api/v1/alerts", params={"status": "bogus"}), "status")
    assert (await scheduler.get("/api/v1/alerts", params={"status": "open"})).json() == []
    _refused(await scheduler.get("/api/v1/patients", params={"status": "gone"}), "status")
    messages = f"/api/v1/clinics/{yx}/messages"
    _refused(await scheduler.get(messages, params={"status": "lost"}), "status")
    _refused(await feedback.get("/api/v1/needs", params={"urgent": "maybe"}), "urgent")
    _refused(await feedback.get("/api/v1/needs", params={"status": "done"}), "status")
    _refused(await feedback.get("/api/v1/needs", params={"category": "misc"}), "category")
    _refused(await feedback.get("/api/v1/feedback", params={"kind": "x"}), "kind")
    runs = f"/api/v1/clinics/{yx}/surveys/yuxi_evaluation/runs"
    _refused(await feedback.get(runs, params={"status": "stale"}), "status")
    report = "/api/v1/reports/surveys/yuxi_evaluation"
    _refused(await feedback.get(report, params={"study_arm": "placebo"}), "study_arm")


async def test_adherence_days_beyond_the_limit_is_a_400_and_fewer_days_say_why(
    apps: tuple[Client, Client, int],
) -> None:
    scheduler, _, yx = apps
    body = dict(scheduler_schemas.PatientIn.openapi_example, clinic_id=yx, study_arm=None)
    created = await scheduler.post("/api/v1/patients", json=body)
    assert created.status_code == 201, created.text
    adherence = f"/api/v1/patients/{created.json()['id']}/adherence"
    assert "366" in _refused(await scheduler.get(adherence, params={"days": "367"}), "days")
    assert ">= 1" in _refused(await scheduler.get(adherence, params={"days": "0"}), "days")
    answer = (await scheduler.get(adherence, params={"days": 30})).json()
    # Enrolled today: one day counted, and the answer says what was asked and from when.
    assert (answer["requested_days"], answer["days"], len(answer["daily"])) == (30, 1, 1)
    assert answer["first_day"] == (await scheduler.get(adherence)).json()["first_day"]


async def test_options_lists_every_method_of_the_path(apps: tuple[Client, Client, int]) -> None:
    scheduler, feedback, yx = apps
    expected = {
        "/api/v1/clinics": "GET, OPTIONS, POST",
        f"/api/v1/clinics/{yx}": "GET, OPTIONS, PATCH",
        "/api/v1/patients/1": "GET, OPTIONS, PATCH",
    }
    for path, allow in expected.items():
        answer = await scheduler.options(path)
        assert (answer.status_code, answer.headers["allow"]) == (204, allow), path
    assert (await feedback.options("/api/v1/surveys")).headers["allow"] == "GET, OPTIONS, POST"
    assert (await feedback.options("/webhooks/wechat")).headers["allow"] == "GET, OPTIONS, POST"


async def test_bus_probes_refuse_unknown_fields_like_every_body(
    apps: tuple[Client, Client, int],
) -> None:
    scheduler, _, _ = apps
    _refused(await scheduler.post("/api/v1/bus-probes", json={"note": "x", "nope": 1}), "data")
    _refused(await scheduler.post("/api/v1/bus-probes", json={"note": "x" * 201}), "note")
    assert (await scheduler.post("/api/v1/bus-probes", json={"note": "ok"})).status_code == 202


async def test_the_error_body_is_as_documented(apps: tuple[Client, Client, int]) -> None:
    """README: `{"status_code", "detail"}`, and `extra` (each refused field's `message`,
    `key`, `source`) when the request parser refused it."""
    scheduler, _, _ = apps
    parsed = await scheduler.post("/api/v1/patients/1/doses", json={"taken_at": "x", "mg": 0})
    body = parsed.json()
    assert set(body) == {"status_code", "detail", "extra"}
    assert all(set(item) == {"message", "key", "source"} for item in body["extra"])
    domain = await scheduler.post(
        "/api/v1/clinics", json=dict(EXAMPLES[ClinicIn], time_zone="Mars/Olympus")
    )
    assert domain.status_code == 400
    assert set(domain.json()) == {"status_code", "detail"}
    assert "time zone" in domain.json()["detail"]


def _document(name: str) -> dict[str, Any]:
    return build_service_app(name, Settings()).openapi_schema.to_schema()


def _schemas(name: str) -> dict[str, Any]:
    components: dict[str, Any] = _document(name)["components"]["schemas"]
    return components


def test_request_bodies_refuse_additional_properties_in_the_schema() -> None:
    for service in ("content", "scheduler", "feedback"):
        document = _document(service)
        components = document["components"]["schemas"]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                body = operation.get("requestBody", {}).get("content", {})
                schema = body.get("application/json", {}).get("schema")
                if schema is None:
                    continue
                name = schema["$ref"].rsplit("/", 1)[-1]
                assert components[name]["additionalProperties"] is False, (method, path)


def test_the_schema_declares_what_the_server_enforces() -> None:
    scheduler = _schemas("scheduler")
    mg = scheduler["DoseIn"]["properties"]["mg"]["anyOf"][0]
    assert (mg["exclusiveMinimum"], mg["maximum"]) == (0, 1000)
    assert scheduler["DoseBatchIn"]["properties"]["doses"]["minItems"] == 1
    assert scheduler["PatientIn"]["properties"]["language"]["enum"] == ["en", "zh-CN"]
    weekdays = scheduler["PatientIn"]["properties"]["lesson_weekdays"]["anyOf"][0]["items"]
    assert (weekdays["minimum"], weekdays["maximum"]) == (1, 7)
    assert scheduler["Consent"]["properties"]["given_at"]["format"] == "date-time"
    content = _schemas("content")
    titles = content["TrackHead"]["properties"]["titles"]
    assert titles["propertyNames"]["enum"] == ["zh-CN", "en"]
    assert titles["required"] == ["zh-CN"]
    feedback = _schemas("feedback")
    assert feedback["SurveyRunsIn"]["properties"]["patient_ids"]["anyOf"][0]["minItems"] == 1
    assert feedback["NoteIn"]["properties"]["text"]["minLength"] == 1
    audit = _document("scheduler")["paths"]["/api/v1/audit"]["get"]["parameters"]
    since = next(p for p in audit if p["name"] == "since")
    assert since["schema"]["format"] == "date-time"
    alerts = _document("scheduler")["paths"]["/api/v1/alerts"]["get"]["parameters"]
    status = next(p for p in alerts if p["name"] == "status")
    assert set(status["schema"]["enum"]) == {"open", "acknowledged", None}


STRUCTS_WITH_EXAMPLES = [
    scheduler_schemas.PatientIn,
    scheduler_schemas.PauseIn,
    scheduler_schemas.TransferIn,
    scheduler_schemas.DoseIn,
    scheduler_schemas.DoseBatchIn,
    scheduler_schemas.ReminderIn,
    scheduler_schemas.UrineTestIn,
    feedback_schemas.NoteIn,
    feedback_schemas.NeedPatch,
    feedback_schemas.SurveyRunsIn,
    content_schemas.TrackHead,
    content_schemas.ModuleIn,
    ClinicIn,
    ClinicPatch,
]


@pytest.mark.parametrize("struct", STRUCTS_WITH_EXAMPLES, ids=lambda s: s.__name__)
def test_each_example_is_a_body_the_server_parses(struct: type[msgspec.Struct]) -> None:
    example = getattr(struct, "openapi_example", None) or EXAMPLES[struct]
    msgspec.json.decode(msgspec.json.encode(example), type=struct)  # raises when not
    documents = [_schemas(name) for name in ("content", "scheduler", "feedback")]
    shown = [d[struct.__name__]["examples"] for d in documents if struct.__name__ in d]
    assert shown == [[example]]


async def test_json_bodies_are_read_strictly_as_their_schema_says(
    apps: tuple[Client, Client, int],
) -> None:
    """Litestar converts bodies leniently; the schema says a date-time is a string and a
    boolean is a boolean, so a number is a 400 for both (a whole 1.0 is an integer)."""
    scheduler, _, yx = apps
    dose = "/api/v1/patients/1/doses"
    assert "taken_at" in _refused(await scheduler.post(dose, json={"taken_at": 0}), "taken_at")
    patient = dict(scheduler_schemas.PatientIn.openapi_example, clinic_id=yx)
    _refused(
        await scheduler.post("/api/v1/patients", json=dict(patient, explicit_wording=0)),
        "explicit_wording",
    )
    whole = await scheduler.post("/api/v1/patients", json=dict(patient, clinic_id=float(yx)))
    assert whole.status_code == 201, whole.text
