"""The rules a send obeys, shared by the single and the batch path: when a message may be
sent, what ends it before sending, and which write wins when a receipt comes first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_

from shared.crypto import IdentifierCipher

MAX_ATTEMPTS = 5
MAX_BACKOFF_S = 300.0  # the longest wait before a retry (RETRY_BACKOFF_S doubles to it)
SENDING_TAKEOVER = timedelta(seconds=60)
OPEN_STATES = ("queued", "sending")  # a dispatcher may still send it
WECHAT_WINDOW = timedelta(hours=47)


AttemptRow = dict[str, Any]  # the attempts table's columns but its id


class Sendable(Protocol):
    """What sending reads of a message: a `Message`, or the batch path's plain copy."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def retry_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime: ...


class Recipient(Protocol):
    """What sending reads of a patient: a `Patient`, or the batch path's plain copy."""

    @property
    def state(self) -> str: ...
    @property
    def opted_out_at(self) -> datetime | None: ...
    @property
    def channel_order(self) -> list[str]: ...
    @property
    def phone_enc(self) -> str | None: ...
    @property
    def openid_enc(self) -> str | None: ...
    @property
    def wrote_on_wechat_at(self) -> datetime | None: ...
    @property
    def language(self) -> str: ...
    @property
    def explicit_wording(self) -> bool: ...
    @property
    def display_name(self) -> str: ...
    @property
    def time_zone(self) -> str: ...


class InFlightElsewhere(Exception):
    """The message is being sent by another dispatcher right now."""


@dataclass
class Outcome:
    state: str
    reason: str | None = None
    channel: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    opted_out: bool = False
    uncounted: bool = False  # held back by our own pacing: the provider was never called


RECEIPT_STATES = ("delivered", "failed")  # what a provider's receipt writes
SEND_STATES = ("sent", "delivered")  # what a send's outcome writes that a receipt settles


def receipt_came_first(current: str, outcome: str) -> bool:
    """A provider's receipt can arrive before the send's own outcome is recorded (the
    callback URL carries our message id for that): never write "sent" over it."""
    return current in RECEIPT_STATES and outcome in SEND_STATES


def receipt_came_first_sql(
    current: ColumnElement[str], outcome: ColumnElement[str]
) -> ColumnElement[bool]:
    """`receipt_came_first` in SQL, for an UPDATE to decide on the row it has locked.
    Equalities, not IN: SQLAlchemy renders an IN list again at every execution."""
    return and_(
        or_(*(current == state for state in RECEIPT_STATES)),
        or_(*(outcome == state for state in SEND_STATES)),
    )


def waiting_for_retry(message: Sendable, now: datetime) -> bool:
    """A queued message whose retry time has not come: a late copy of the command that
    failed or was paced. Its retry gets a command of its own (`sweeps.requeue_retries`);
    sending it now would ignore the backoff or the provider's Retry-After."""
    return message.retry_at is not None and message.retry_at > now


def final_before_sending(
    message: Sendable, patient: Recipient, now: datetime, cipher: IdentifierCipher | None
) -> tuple[str, str] | None:
    if patient.opted_out_at is not None:
        return "opted_out", "patient opted out"
    if patient.state != "active":
        return "skipped", f"patient {patient.state}"
    if now >= message.expires_at:
        return "expired", "its window passed before it could be sent"
    if message.attempts >= MAX_ATTEMPTS:
        return "failed", f"gave up after {message.attempts} attempts"
    if cipher is None:
        return "failed", "identifier keys are not configured"
    return None
