"""Links to a patient's self-assessment page: signed, expiring, carrying no patient id.

The record page's links (record_links.py) with a key of their own purpose, so that a record
token is never an assessment token, and a path of their own: `{SCHEDULER_PUBLIC_URL}/a/
<token>`. The opaque reader is the time point's own random UUID (AssessmentDue.reader). A
link lasts two weeks: long enough for a follow-up visit window, short enough that an old
message forwarded on is of no use. No setting of its own (LESSON_LINK_SECRET signs it).
"""

from __future__ import annotations

from services.scheduler.record_links import RecordLinks

MAX_AGE_SECONDS = 14 * 86_400


class AssessmentLinks(RecordLinks):
    purpose = b"mmt-assessment-link-v1"
    path = "a"
    max_age_seconds = MAX_AGE_SECONDS
