"""Decoded study definitions, kept per process, for the MI target read on every patient page.

`arm_targets` needs each study's arms and their MI targets on every patient page and every
worker tick; decoding a study's stored JSON into a `StudyDefinition` each time cost more
than the query that read it. So a decoded definition is kept here under (study id, a digest
of the stored JSON text as the database returns it).

Why that is safe: the key changes whenever the stored text does, whatever changed it (a
definition is never changed by the code, studies/service.py, but a hand-made UPDATE, a
restored dump or a test that recreates a study under the same id would), so a changed
definition is a miss and is decoded afresh; an unchanged text decodes to the same
definition, which is frozen (msgspec `frozen=True`) and never modified by its readers. The
study id is in the key as well so that two studies with the same text (impossible: their
keys differ) could not share an entry. Nothing is awaited between reading and writing the
dictionary, so concurrent requests on the event loop cannot interleave inside it. At most
`MAX_ENTRIES` definitions are kept, the least recently used dropped first, so old versions
do not accumulate.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import msgspec

from services.scheduler.studies.definition import StudyDefinition, decode_study

MAX_ENTRIES = 256  # studies are few (a handful per installation); this bounds the memory

_decoded: OrderedDict[tuple[int, bytes], StudyDefinition] = OrderedDict()


def _digest(stored_text: str) -> bytes:
    return hashlib.blake2b(stored_text.encode(), digest_size=16).digest()


def definition_of(study_id: int, stored_text: str) -> StudyDefinition:
    """The study's definition from its stored JSON text, decoded once per text and process."""
    key = (study_id, _digest(stored_text))
    found = _decoded.get(key)
    if found is not None:
        _decoded.move_to_end(key)
        return found
    definition = decode_study(msgspec.json.decode(stored_text))
    _decoded[key] = definition
    if len(_decoded) > MAX_ENTRIES:
        _decoded.popitem(last=False)
    return definition


def cached_entries() -> int:
    """How many definitions are kept (for tests)."""
    return len(_decoded)
