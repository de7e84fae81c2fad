"""shared.heap: what start-up holds leaves the collector's full passes; later garbage not."""

from __future__ import annotations

import gc

from shared.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freezing_hides_what_is_alive_and_still_collects_later_cycles() -> None:
    held = [_Node()]  # alive at "start-up"
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(o is held for o in gc.get_objects())  # no pass walks it any more
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle made after the freeze, then dropped
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()  # this is a test process, not a server: give the objects back
    assert any(o is held for o in gc.get_objects())
