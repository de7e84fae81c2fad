"""The planner: reminder plans live in SQL, and every step works on sets of patients.

- `plan_ahead` writes tomorrow's and today's occurrences (dose reminders, lessons by the
  track cadence) with INSERT ... SELECT per group of patients sharing a time zone and
  times. There are few such groups even for a national programme, so the work is a few
  hundred statements, never one per patient, and memory stays flat. The unique key
  (patient, kind, local date, slot) makes planning idempotent and safe in any number of
  replicas.
- `release_due` claims due occurrences with FOR UPDATE SKIP LOCKED (replicas share the
  work without duplicates), applies the rules, and writes one message row per occurrence,
  in one transaction; the SendMessage commands follow straight after the commit (or go in
  the outbox when no publisher is given).

`ahead.py` plans, `release.py` releases, `upkeep.py` holds the slower ticks.
"""

from __future__ import annotations

from services.scheduler.planner.ahead import plan_ahead, published_tracks
from services.scheduler.planner.release import (
    FINAL_WITHOUT_SENDING,
    Publish,
    Released,
    decide,
    outbox_rows,
    release_due,
)
from services.scheduler.planner.upkeep import fail_stale, resume_due

__all__ = [
    "FINAL_WITHOUT_SENDING",
    "Publish",
    "Released",
    "decide",
    "fail_stale",
    "outbox_rows",
    "plan_ahead",
    "published_tracks",
    "release_due",
    "resume_due",
]
