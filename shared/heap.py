"""Keep the garbage collector's full passes off what a process holds from its start.

CPython's cyclic collector now and then walks every tracked object ("generation 2"). A
service process holds ~180,000 of them from imports and its app before its first request
(Litestar, SQLAlchemy, pydantic, their caches), so each full pass stalls the event loop,
and every request in flight with it, for 100-150 ms on our 2-core machine; the first ones
come with the first load, as the heap grows. `gc.freeze()` moves the objects alive at
that moment into a permanent generation the collector never walks (the docs name this use
for pre-fork servers; the pause it saves is the same in any long-lived process). They
are still freed by reference counting; a cycle among them would stay, which is why this
is done once, after start-up, and not by code that builds and drops many apps (tests).
Measured with `mmt bench api`: docs/benchmarks.md, "Coordinator reads".
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
