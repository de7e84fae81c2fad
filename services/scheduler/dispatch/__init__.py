"""Dispatch: a queued message becomes text on a patient's phone, or a visible reason.

`single.py` sends one message at a time (the path for lessons and record replies, and the
reference for the rules); `batch.py` sends a whole read batch of a burst with the same
rules (`rules.py`); `context.py` reads what a reply carries besides the patient.
"""

from __future__ import annotations

from services.scheduler.dispatch.batch import BatchDispatcher
from services.scheduler.dispatch.rules import (
    MAX_ATTEMPTS,
    OPEN_STATES,
    SENDING_TAKEOVER,
    InFlightElsewhere,
    Outcome,
)
from services.scheduler.dispatch.single import Dispatcher

__all__ = [
    "MAX_ATTEMPTS",
    "OPEN_STATES",
    "SENDING_TAKEOVER",
    "BatchDispatcher",
    "Dispatcher",
    "InFlightElsewhere",
    "Outcome",
]
