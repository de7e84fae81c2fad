"""How long a study's analysis file and its data dictionary take, and how much memory, on a
study of N randomised participants with half a year of doses, urine tests, lessons,
ratings, replies and assessments (docs/benchmarks.md, 'The study export').

Three steps, each its own process so that the measuring one holds only what the export
needs (its peak resident memory is the interpreter plus the export):

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
      .venv/bin/python -m mmt.bench.study_export seed --participants 2000
    .venv/bin/python -m mmt.bench.study_export measure   # prints seconds, MB and a digest
    .venv/bin/python -m mmt.bench.study_export drop

The digest is the CSV's SHA-256 without the columns named by --without, so that two
versions of the export can be compared on the same data (e.g. `--without replies`
against a version before that column).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import hashlib
import io
import os
import random
import resource
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import insert, select

from mmt.registry import load_service
from services.scheduler.assessment_models import Assessment
from services.scheduler.models import Dose, LessonProgress, Patient, UrineTest
from services.scheduler.patients import Scheduler
from services.scheduler.ratings import PatientRating
from services.scheduler.studies import export
from services.scheduler.studies.definition import validate_study
from services.scheduler.studies.models import StudyArm, StudyParticipant
from services.scheduler.studies.service import store_study
from shared.access.tokens import Principal, Role
from shared.db import Database
from shared.migrate import migrate

PREFIX = "benchexp_"
TODAY = date(2026, 12, 1)
BASELINE = TODAY - timedelta(days=200)  # baseline, month 3 and month 6 are over
ADMIN = Principal("bench0000000", Role.ADMIN, frozenset())
STUDY = {
    "study": {
        "key": "bench-export",
        "titles": {"zh-CN": "导出基准"},
        "unit": "patient",
        "consent_version": "v1",
    },
    "strata": [{"key": "clinic"}, {"key": "sex", "values": ["male", "female"]}],
    "arms": [
        {"code": "online", "titles": {"zh-CN": "线上"}, "receives": {"lessons": True}},
        {"code": "routine", "titles": {"zh-CN": "常规"}},
    ],
    "follow_up": [
        {"key": "baseline", "months": 0},
        {"key": "month-3", "months": 3},
        {"key": "month-6", "months": 6},
    ],
}
_CHUNK = 5000


def _db() -> Database:
    return Database(os.environ["DATABASE_URL"], "scheduler", schema_prefix=PREFIX, pool_size=2)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, clock_time(hour), UTC)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


async def _insert(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        async with db.transaction() as session:
            await session.execute(insert(model), chunk)


def _patient(number: int, now: datetime) -> dict[str, Any]:
    return {
        "clinic_id": 1 + number % 3,
        "clinic_number": f"B-{number}",
        "display_name": "B.",
        "channel_order": ["sms"],
        "language": "zh-CN",
        "time_zone": "Asia/Shanghai",
        "dose_time": clock_time(8),
        "quiet_start": clock_time(22),
        "quiet_end": clock_time(7),
        "state": "active",
        "consent_version": "v1",
        "consent_at": now,
        "consent_recorded_by": "bench",
        "enrolled_at": now,
        "updated_at": now,
    }


async def seed(participants: int) -> None:
    db = _db()
    await migrate(db, load_service("scheduler").migrations)
    await seed_into(db, participants)
    await db.dispose()


async def seed_into(db: Database, participants: int) -> int:
    """The study and its participants' data in a migrated scheduler database (also the
    tests' fixture for comparing databases); the same data for the same count."""
    definition, problems = validate_study(STUDY)
    assert definition is not None, problems
    study = await store_study(db, definition, "bench")
    now = datetime.now(UTC)
    await _insert(db, Patient, [_patient(n, now) for n in range(participants)])
    async with db.sessions() as session:
        ids = list((await session.execute(select(Patient.id).order_by(Patient.id))).scalars())
        arms = list((await session.execute(select(StudyArm.id, StudyArm.code))).all())
    rng = random.Random(21)  # noqa: S311 (a benchmark's data, not a secret)
    people, doses, urine, lessons, ratings, assessments = [], [], [], [], [], []
    days = (TODAY - BASELINE).days + 30
    for n, pid in enumerate(ids):
        sex = "male" if n % 5 else "female"
        arm_id = arms[n % 2][0]
        lost = BASELINE + timedelta(days=rng.randrange(60, 190)) if n % 4 == 0 else None
        people.append(
            {
                "study_id": study.id,
                "patient_id": pid,
                "clinic_id": 1 + n % 3,
                "consent_version": "v1",
                "consent_at": now,
                "strata": {"clinic": str(1 + n % 3), "sex": sex},
                "baseline_on": BASELINE,
                "arm_id": arm_id,
                "randomised_at": _at(BASELINE),
                "lost_on": lost,
                "lost_reason": "moved" if lost else None,
                "enrolled_by": "bench",
                "enrolled_at": now,
            }
        )
        for d in range(days):
            day = BASELINE - timedelta(days=30) + timedelta(days=d)
            if rng.random() < 0.8:
                doses.append(
                    {
                        "patient_id": pid,
                        "local_date": day,
                        "taken_at": _at(day),
                        "recorded_at": _at(day),
                    }
                )
            if d % 7 == 0:
                result = "negative" if rng.random() < 0.7 else "positive"
                urine.append(
                    {
                        "patient_id": pid,
                        "taken_on": day,
                        "result": result,
                        "substances": [],
                        "recorded_at": _at(day),
                    }
                )
            if d % 2 == 0:
                state = rng.choice(("sent", "opened", "skipped"))
                lessons.append(
                    {
                        "patient_id": pid,
                        "track": "core",
                        "lesson_key": f"l{d}",
                        "state": state,
                        "at": _at(day, 19),
                    }
                )
            if d % 10 == 0:
                ratings.append(
                    {
                        "event_id": f"{pid}-{d}",
                        "patient_id": pid,
                        "rating": rng.randint(1, 5),
                        "at": _at(day, 20),
                    }
                )
        for months, point in ((0, "baseline"), (3, "month-3"), (6, "month-6")):
            assessments.append(
                {
                    "patient_id": pid,
                    "clinic_id": 1 + n % 3,
                    "instrument_code": "motivation",
                    "instrument_version": 1,
                    "time_point": point,
                    "answers": {},
                    "scores": {"total": float(rng.randint(20, 60)), "readiness": None},
                    "mode": "staff",
                    "assessed_by": "bench",
                    "assessed_at": _at(BASELINE + timedelta(days=30 * months)),
                    "recorded_by": "bench",
                    "recorded_at": now,
                }
            )
    await _insert(db, StudyParticipant, people)
    for model, rows in (
        (Dose, doses),
        (UrineTest, urine),
        (LessonProgress, lessons),
        (PatientRating, ratings),
        (Assessment, assessments),
    ):
        await _insert(db, model, rows)
    await _seed_replies(db, ids, rng)
    print(
        f"seeded study {study.id}: {participants} participants, {len(doses)} doses, "
        f"{len(urine)} urine tests, {len(lessons)} lessons, {len(ratings)} ratings"
    )
    return study.id


async def _seed_replies(db: Database, ids: list[int], rng: random.Random) -> None:
    try:  # absent from a version of the export before replies were counted
        from services.scheduler.replies import PatientReply
    except ImportError:
        return
    rows = [
        {
            "event_id": f"r{pid}-{k}",
            "patient_id": pid,
            "kind": "need",
            "at": _at(BASELINE + timedelta(days=rng.randrange(-30, 200)), 12),
        }
        for pid in ids
        for k in range(10)
    ]
    await _insert(db, PatientReply, rows)


def _digest(text: str, without: list[str]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(rows[0]) if name not in without]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return hashlib.sha256(out.getvalue().encode()).hexdigest()[:16]


async def measure(without: list[str], repeat: int) -> None:
    db = _db()
    ctx = Scheduler(db, db, None)
    async with db.sessions() as session:
        study_id = await session.scalar(select(StudyParticipant.study_id).limit(1))
    assert study_id is not None, "seed first"
    times, dictionary_times = [], []
    text = ""
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        header, rows, _variables = await export.export_rows(ctx, ADMIN, study_id, today=TODAY)
        text = export.to_csv(header, rows)
        times.append(time.perf_counter() - started)
        del header, rows
        started = time.perf_counter()
        if hasattr(export, "dictionary"):  # the dictionary without the rows
            await export.dictionary(ctx, ADMIN, study_id)
        else:
            await export.export_rows(ctx, ADMIN, study_id, today=TODAY)
        dictionary_times.append(time.perf_counter() - started)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gc.collect()
    tracemalloc.start()
    header, rows, _variables = await export.export_rows(ctx, ADMIN, study_id, today=TODAY)
    export.to_csv(header, rows)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"export: best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
        f"({repeat} runs); dictionary: best {min(dictionary_times):.3f} s; "
        f"{len(rows)} rows; Python peak during one export {peak / 2**20:.1f} MB; "
        f"process max RSS {rss_mb:.0f} MB; digest {_digest(text, without)}"
    )
    await db.dispose()


async def drop() -> None:
    db = _db()
    await db.drop_schema()
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed")
    seeding.add_argument("--participants", type=int, default=2000)
    measuring = commands.add_parser("measure")
    measuring.add_argument("--without", nargs="*", default=[])
    measuring.add_argument("--repeat", type=int, default=3)
    commands.add_parser("drop")
    args = parser.parse_args()
    if args.command == "seed":
        asyncio.run(seed(args.participants))
    elif args.command == "measure":
        asyncio.run(measure(args.without, args.repeat))
    else:
        asyncio.run(drop())


if __name__ == "__main__":
    main()
