"""The MI targets' decoded study definitions (services/scheduler/mi/definition_cache.py):
read twice, a definition is decoded once; changed in the database under the same study id
(a definition the code never changes, so by hand), the next read gives the changed one."""

from __future__ import annotations

import copy

import msgspec
from sqlalchemy import Text, cast, select, update

from services.scheduler.mi import definition_cache
from services.scheduler.mi.targets import arm_targets
from services.scheduler.studies.models import Study, StudyArm
from tests.integration.test_scheduler_studies import World
from tests.integration.test_scheduler_studies import world as world  # the fixture


async def _targets(world: World) -> dict[str, tuple[int, int]]:
    """The MMT CARE arms' targets by arm code: (sessions, within days)."""
    async with world.db.sessions() as session:
        found = await arm_targets(session)
        codes = {
            arm_id: code
            for arm_id, code in await session.execute(select(StudyArm.id, StudyArm.code))
        }
    return {
        codes[arm_id]: (target.target, target.within_days)
        for arm_id, (study_id, _code, target) in found.items()
        if study_id == world.care
    }


async def test_a_changed_definition_is_read_afresh_and_an_unchanged_one_from_the_cache(
    world: World,
) -> None:
    assert await _targets(world) == {"intervention": (2, 90)}  # the control arm sets none
    async with world.db.sessions() as session:
        stored = (
            await session.execute(select(Study.definition).where(Study.id == world.care))
        ).scalar_one()
        stored_text = (
            await session.execute(
                select(cast(Study.definition, Text)).where(Study.id == world.care)
            )
        ).scalar_one()
    first = definition_cache.definition_of(world.care, stored_text)
    assert definition_cache.definition_of(world.care, stored_text) is first  # not decoded again

    changed = copy.deepcopy(stored)
    intervention = next(a for a in changed["arms"] if a["code"] == "intervention")
    intervention["mi_sessions"] = {"target": 3, "within_days": 120}
    async with world.db.transaction() as session:
        await session.execute(
            update(Study).where(Study.id == world.care).values(definition=changed)
        )
    assert await _targets(world) == {"intervention": (3, 120)}

    async with world.db.transaction() as session:  # and back: the first text again
        await session.execute(update(Study).where(Study.id == world.care).values(definition=stored))
    assert await _targets(world) == {"intervention": (2, 90)}
    assert definition_cache.cached_entries() <= definition_cache.MAX_ENTRIES


async def test_the_cache_keeps_at_most_its_bound(world: World) -> None:
    async with world.db.sessions() as session:
        stored = (
            await session.execute(select(Study.definition).where(Study.id == world.care))
        ).scalar_one()
    for version in range(definition_cache.MAX_ENTRIES + 10):
        text = msgspec.json.encode({**stored, "key": f"mmt-care-{version}"}).decode()
        definition_cache.definition_of(10_000_000 + version, text)
    assert definition_cache.cached_entries() == definition_cache.MAX_ENTRIES
