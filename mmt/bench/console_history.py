"""Days of history for a clinic's patients, as the programme pages read it: one dose
reminder a day each (its occurrence and message, in a state that varies by patient and
day) and an observed dose on most days. Made inside PostgreSQL in a few statements, so
500 patients x 30 days takes a moment; `mmt bench console` and the console's tests use it.

The pattern is fixed (a hash of patient and day), so a run is repeatable: about 85% of
days dosed, messages mostly delivered, some failed with a provider's reason, expired or
suppressed, and every 25th patient failing on every channel all week.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from shared.db import Database

FAILED_REASON = "twilio undelivered (error 30003): no channel left"

_STATEMENTS = (
    """INSERT INTO "{s}".occurrences
         (patient_id, kind, local_date, slot, due_at, expires_at, state)
       SELECT p.id, 'dose', d::date, 'history', d + interval '8 hours',
              d + interval '10 hours', 'queued'
       FROM "{s}".patients p,
            generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
       WHERE p.clinic_id = :clinic_id""",
    """INSERT INTO "{s}".messages (id, occurrence_id, patient_id, clinic_id, kind,
         local_date, state, reason, channel, attempts, expires_at, created_at, updated_at)
       SELECT gen_random_uuid()::text, o.id, o.patient_id, :clinic_id, o.kind, o.local_date,
              CASE WHEN o.patient_id % 25 = 0 THEN 'failed'
                   WHEN h < 80 THEN 'delivered' WHEN h < 86 THEN 'sent'
                   WHEN h < 92 THEN 'failed' WHEN h < 96 THEN 'expired'
                   ELSE 'suppressed' END,
              CASE WHEN o.patient_id % 25 = 0 OR h BETWEEN 86 AND 91 THEN :reason END,
              CASE WHEN h >= 96 AND o.patient_id % 25 <> 0 THEN NULL
                   WHEN o.patient_id % 3 = 0 THEN 'wechat' ELSE 'sms' END,
              1, o.expires_at, o.due_at, o.due_at
       FROM (SELECT *, abs(hashtext(patient_id::text || local_date::text)) % 100 AS h
             FROM "{s}".occurrences WHERE slot = 'history') o
       JOIN "{s}".patients p ON p.id = o.patient_id
       WHERE p.clinic_id = :clinic_id""",
    """INSERT INTO "{s}".doses (patient_id, local_date, taken_at, mg, recorded_at)
       SELECT p.id, d::date, d + interval '8 hours 10 minutes', 60, d + interval '9 hours'
       FROM "{s}".patients p,
            generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
       WHERE p.clinic_id = :clinic_id
         AND abs(hashtext(p.id::text || 'dose' || d::date::text)) % 100 < 85""",
)


async def seed_console_history(db: Database, clinic_id: int, first: date, last: date) -> None:
    """History from `first` to `last` (local days) for every patient of the clinic."""
    schema = db.schema  # a schema name of ours, never input
    params = {"clinic_id": clinic_id, "first": first, "last": last, "reason": FAILED_REASON}
    async with db.engine.begin() as conn:
        for statement in _STATEMENTS:
            await conn.execute(text(statement.format(s=schema)), params)
