"""Follow-up tasks for providers (issue 22): a warning sign becomes one task a person owns.

`signals.raise_signal` is the one way in (bus handlers, the scheduler's own sweeps in
`facts.py`, other packages inside their own transaction); `rules.py` holds the pure rules
(kinds, due times, status moves); `assign.py` and `escalation.py` are the worker's ticks;
`service.py`, `settings.py` and `report.py` serve the routes in `api.py`.
"""
