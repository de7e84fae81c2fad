"""Motivational-interviewing (MI) sessions (issue 22 part 2): MMT CARE's providers hold two
short MI sessions with each client; the suite logs them and tracks that target.

`models.py` the tables, `schemas.py` the API's structs, `rules.py` the target's pure
arithmetic (window, due dates, status), `targets.py` which target applies to a patient (a
study arm's or the clinic's), `sessions.py` logging, correcting and voiding, `report.py` the
clinic's figures and the researchers' CSV, `due.py` the worker's tick that raises a task
for a session coming due, `api.py` the routes.
"""
