"""Fake providers speaking the real HTTP protocols, for tests and local runs.

`python -m deploy.fakes.twilio --port P`, `python -m deploy.fakes.wechat --port P`,
`python -m deploy.fakes.webhook --port P`. Each serves `GET /_fake/stats` (counters),
`GET|POST /_fake/config` (knobs) and `POST /_fake/reset`.
"""
