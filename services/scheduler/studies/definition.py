"""A study as data: what a definition may say, and its validation.

A definition (a YAML file under `studies/`, or the same data sent to the API) names the
study, its unit of randomisation (patient or clinic), the consent version, the strata,
the arms (each with an allocation ratio and what it receives) and the follow-up points.
It is validated like a curriculum track or a risk instrument (shared.yaml_checks): every
problem at once, each naming file, line and field. The format is in studies/README.md.

An arm receives nothing it does not say: routine care gets none of the online pushes
unless the study says so.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from services.scheduler.studies.allocation import Scheme
from shared.yaml_checks import MISSING, Checker
from shared.yaml_problems import Path, Problem, Source

Unit = Literal["patient", "clinic"]
UNITS: tuple[Unit, ...] = ("patient", "clinic")
KEY = re.compile(r"[a-z0-9-]{2,40}")
ARM = re.compile(r"[a-z0-9-]{2,20}")  # fits the patients' legacy study_arm label
VALUE = re.compile(r"[A-Za-z0-9+<>=._-]{1,20}")
FACTOR = re.compile(r"[a-z][a-z0-9_]{1,30}")
TRACK = re.compile(r"[a-z0-9-]{1,40}")
CLINIC = "clinic"  # the stratum factor read from the patient's clinic; the others are given
# An age band: "18-29" (both ends included) or "50+" (open, the last band only).
BAND = re.compile(r"(?P<low>[0-9]{1,3})(?:-(?P<high>[0-9]{1,3})|(?P<open>\+))")
MAX_AGE = 120
RECEIVES = ("dose_reminders", "lessons", "surveys")
_TEXT_LIMIT = 200
# An MI target: a few sessions, each given four weeks or more (the due dates are 14 days
# from the window's start and before its last 14 days: services/scheduler/mi/rules.py).
MI_MAX_TARGET = 6
MI_MIN_DAYS, MI_MAX_DAYS = 28, 365


class Factor(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    values: list[str] | None = None  # None for `clinic`: the patient's own
    # Declared as `bands:` (ages, e.g. 18-29 ... 50+): the values are the bands, and a
    # participant's band may also be derived from the age given at enrolment.
    age_bands: bool = False


def band_of(bands: list[str], age: int) -> str | None:
    """The band an age falls in (None: in none of them)."""
    for band in bands:
        found = BAND.fullmatch(band)
        if found is None:
            continue
        low, high = int(found["low"]), MAX_AGE if found["open"] else int(found["high"])
        if low <= age <= high:
            return band
    return None


class MiSessions(msgspec.Struct, frozen=True, kw_only=True):
    """Motivational-interviewing sessions the arm's providers hold with each participant:
    `target` sessions within `within_days` of randomisation (services/scheduler/mi/)."""

    target: int
    within_days: int


class ArmDefinition(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    titles: dict[str, str]
    ratio: int = 1
    dose_reminders: bool = False
    lessons: bool = False
    surveys: bool = False
    tracks: list[str] | None = None  # lessons only from these tracks, when listed
    mi_sessions: MiSessions | None = None  # no MI target unless the arm sets one
    # Reminders of the follow-up assessments: on unless the arm says not. They serve the
    # trial's measurement, which every arm shares, not the intervention that differs.
    assessment_reminders: bool = True


class FollowUp(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    months: int


class StudyDefinition(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    titles: dict[str, str]
    unit: Unit
    consent_version: str
    block_sizes: list[int]
    strata: list[Factor]
    arms: list[ArmDefinition]
    follow_up: list[FollowUp]

    def scheme(self) -> Scheme:
        return Scheme(
            tuple(arm.code for arm in self.arms),
            tuple(arm.ratio for arm in self.arms),
            tuple(self.block_sizes),
        )


class _StudyChecker(Checker):
    def study(self, data: Any) -> StudyDefinition | None:
        top = self.mapping(data, (), ("study", "arms", "follow_up"), ("strata",))
        if top is None:
            return None
        head = self.mapping(
            top.get("study", MISSING),
            ("study",),
            ("key", "titles", "unit", "consent_version"),
            ("block_sizes",),
        )
        if head is None:
            return None
        key = self.code(head.get("key", MISSING), ("study", "key"), KEY, "study key")
        titles = self.texts(head.get("titles", MISSING), ("study", "titles"), _TEXT_LIMIT)
        unit = head.get("unit", MISSING)
        if unit is not MISSING and unit not in UNITS:
            self.fail(("study", "unit"), f"{unit!r} is not one of {', '.join(UNITS)}")
        consent = self.text(head.get("consent_version", MISSING), ("study", "consent_version"), 40)
        arms = self.arms(top.get("arms", MISSING))
        strata = self.strata(top.get("strata", []))
        follow_up = self.follow_up(top.get("follow_up", MISSING))
        sizes = self.block_sizes(head.get("block_sizes", MISSING), arms)
        if self.problems or None in (key, titles, consent, arms, strata, follow_up, sizes):
            return None
        return msgspec.convert(
            {
                "key": key,
                "titles": titles,
                "unit": unit,
                "consent_version": consent,
                "block_sizes": sizes,
                "strata": strata,
                "arms": arms,
                "follow_up": follow_up,
            },
            StudyDefinition,
        )

    def _flag(self, value: Any, path: Path) -> bool:
        if value is MISSING:
            return False  # what an arm does not say it receives, it does not receive
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {value!r}")
            return False
        return value

    def arms(self, value: Any) -> list[ArmDefinition] | None:
        listed = self.sequence(value, ("arms",), "arms", 2, 6)
        if listed is None:
            return None
        arms: list[ArmDefinition] = []
        seen: set[str] = set()
        for index, raw in enumerate(listed):
            path: Path = ("arms", index)
            entry = self.mapping(
                raw,
                path,
                ("code", "titles"),
                ("ratio", "receives", "mi_sessions", "assessment_reminders"),
            )
            if entry is None:
                continue
            code = self.code(entry.get("code", MISSING), (*path, "code"), ARM, "arm code")
            if code is not None and code in seen:
                self.fail((*path, "code"), f"arm {code!r} appears twice")
            titles = self.texts(entry.get("titles", MISSING), (*path, "titles"), _TEXT_LIMIT)
            ratio = self.integer(entry.get("ratio", 1), (*path, "ratio"))
            if ratio is not None and not 1 <= ratio <= 10:
                self.fail((*path, "ratio"), "must be from 1 to 10")
            receives = self.mapping(
                entry.get("receives", {}), (*path, "receives"), (), (*RECEIVES, "tracks")
            )
            flags = {
                name: self._flag((receives or {}).get(name, MISSING), (*path, "receives", name))
                for name in RECEIVES
            }
            tracks = self.tracks((receives or {}).get("tracks", MISSING), (*path, "receives"))
            mi = self.mi_sessions(entry.get("mi_sessions", MISSING), (*path, "mi_sessions"))
            reminded = entry.get("assessment_reminders", True)
            if not isinstance(reminded, bool):
                self.fail((*path, "assessment_reminders"), f"must be true or false: {reminded!r}")
                reminded = True
            if code is not None and titles is not None and ratio is not None:
                seen.add(code)
                arms.append(
                    ArmDefinition(
                        code=code,
                        titles=titles,
                        ratio=ratio,
                        tracks=tracks,
                        mi_sessions=mi,
                        assessment_reminders=reminded,
                        **flags,
                    )
                )
        return arms

    def mi_sessions(self, value: Any, path: Path) -> MiSessions | None:
        entry = self.mapping(value, path, ("target", "within_days"))
        if entry is None:
            return None
        target = self.integer(entry.get("target", MISSING), (*path, "target"))
        if target is not None and not 1 <= target <= MI_MAX_TARGET:
            self.fail((*path, "target"), f"must be from 1 to {MI_MAX_TARGET}")
        days = self.integer(entry.get("within_days", MISSING), (*path, "within_days"))
        if days is not None and not MI_MIN_DAYS <= days <= MI_MAX_DAYS:
            self.fail((*path, "within_days"), f"must be from {MI_MIN_DAYS} to {MI_MAX_DAYS}")
        if target is None or days is None:
            return None
        return MiSessions(target=target, within_days=days)

    def tracks(self, value: Any, path: Path) -> list[str] | None:
        listed = self.sequence(value, (*path, "tracks"), "track codes", 1, 20)
        if listed is None:
            return None
        codes = [
            self.code(raw, (*path, "tracks", index), TRACK, "track code")
            for index, raw in enumerate(listed)
        ]
        return [code for code in codes if code is not None]

    def strata(self, value: Any) -> list[Factor] | None:
        listed = self.sequence(value, ("strata",), "stratification factors", 0, 4)
        if listed is None:
            return None
        factors: list[Factor] = []
        for index, raw in enumerate(listed):
            path: Path = ("strata", index)
            entry = self.mapping(raw, path, ("key",), ("values", "bands"))
            if entry is None:
                continue
            key = self.code(entry.get("key", MISSING), (*path, "key"), FACTOR, "factor key")
            if key is not None and key in {factor.key for factor in factors}:
                self.fail((*path, "key"), f"factor {key!r} appears twice")
                continue
            raw_values = entry.get("values", MISSING)
            if key == CLINIC:
                if raw_values is not MISSING or "bands" in entry:
                    self.fail((*path, "values"), "clinic takes the patient's own: no values")
                factors.append(Factor(key=CLINIC))
                continue
            if "bands" in entry:
                if raw_values is not MISSING:
                    self.fail((*path, "values"), "a factor has values or bands, not both")
                elif any(factor.age_bands for factor in factors):
                    self.fail((*path, "bands"), "one factor only may be an age band")
                bands = self.bands(entry["bands"], (*path, "bands"))
                if key is not None and bands is not None:
                    factors.append(Factor(key=key, values=bands, age_bands=True))
                continue
            values = self.sequence(raw_values, (*path, "values"), "values", 2, 12)
            if raw_values is MISSING:
                self.fail((*path, "values"), "missing: the values a patient may have")
            if key is None or values is None:
                continue
            checked = [
                self.code(str(v), (*path, "values", i), VALUE, "value")
                for i, v in enumerate(values)
            ]
            if len(set(checked)) != len(checked):
                self.fail((*path, "values"), "a value appears twice")
            factors.append(Factor(key=key, values=[v for v in checked if v is not None]))
        return factors

    def bands(self, value: Any, path: Path) -> list[str] | None:
        """Age bands in rising order, each following on from the one before (no gap, no
        overlap), the last one maybe open: [18-29, 30-39, 40-49, 50+]."""
        listed = self.sequence(value, path, "age bands", 2, 12)
        if listed is None:
            return None
        bands: list[str] = []
        after: int | None = None  # the first age the next band must start at
        for index, raw in enumerate(listed):
            text = str(raw).replace(" ", "")
            found = BAND.fullmatch(text)
            if found is None:
                self.fail((*path, index), f"{raw!r} is not an age band (e.g. 18-29, or 50+)")
                return None
            low = int(found["low"])
            high = MAX_AGE if found["open"] else int(found["high"])
            if not low <= high <= MAX_AGE:
                self.fail((*path, index), f"{text}: from a lower to a higher age, up to {MAX_AGE}")
                return None
            if after is not None and low != after:
                self.fail((*path, index), f"{text} must start at {after}, after the band before")
                return None
            if found["open"] and index != len(listed) - 1:
                self.fail((*path, index), f"{text}: only the last band may be open")
                return None
            bands.append(text)
            after = high + 1
        return bands

    def follow_up(self, value: Any) -> list[FollowUp] | None:
        listed = self.sequence(value, ("follow_up",), "time points", 1, 12)
        if listed is None:
            return None
        points: list[FollowUp] = []
        for index, raw in enumerate(listed):
            path: Path = ("follow_up", index)
            entry = self.mapping(raw, path, ("key", "months"))
            if entry is None:
                continue
            key = self.code(entry.get("key", MISSING), (*path, "key"), KEY, "time point key")
            months = self.integer(entry.get("months", MISSING), (*path, "months"))
            if months is not None and not 0 <= months <= 120:
                self.fail((*path, "months"), "must be from 0 to 120")
            if points and months is not None and months <= points[-1].months:
                self.fail((*path, "months"), "must come after the time point before it")
            if key is not None and key in {point.key for point in points}:
                self.fail((*path, "key"), f"time point {key!r} appears twice")
            elif key is not None and months is not None:
                points.append(FollowUp(key=key, months=months))
        return points

    def block_sizes(self, value: Any, arms: list[ArmDefinition] | None) -> list[int] | None:
        unit = sum(arm.ratio for arm in arms) if arms else None
        if value is MISSING:  # the usual 1, 2 and 3 times the ratios (2, 4, 6 for 1:1)
            return [unit * m for m in (1, 2, 3)] if unit else None
        listed = self.sequence(value, ("study", "block_sizes"), "block sizes", 1, 6)
        if listed is None:
            return None
        sizes = []
        for index, raw in enumerate(listed):
            size = self.integer(raw, ("study", "block_sizes", index))
            if size is None:
                continue
            if unit and (size < unit or size % unit or size > 60):
                self.fail(
                    ("study", "block_sizes", index),
                    f"{size} is not a multiple of {unit} (the sum of the arms' ratios) up to 60",
                )
            sizes.append(size)
        return sizes


def validate_study(
    data: Any, source: Source | None = None
) -> tuple[StudyDefinition | None, list[Problem]]:
    checker = _StudyChecker(source or Source())
    study = checker.study(data)
    return study, checker.problems


def decode_study(stored: Any) -> StudyDefinition:
    """A definition as stored (it was validated when defined)."""
    return msgspec.convert(stored, StudyDefinition)
