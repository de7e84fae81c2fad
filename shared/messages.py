"""Every message that crosses the bus, typed and versioned, in one module.

Commands are orders (`SendReminder`), events are facts in the past tense (`ReminderSent`).
The wire tag carries the version (`BusProbeSent.v1`); a breaking change adds a `.v2` class
beside the old one, so consumers can read both while producers move over. Each message
name has its own stream, shared by all its versions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Literal, TypeAlias
from uuid import UUID, uuid4

import msgspec


def _now() -> datetime:
    return datetime.now(UTC)


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every bus message; `id` is what idempotent handlers de-duplicate on."""

    id: UUID = msgspec.field(default_factory=uuid4)
    occurred_at: datetime = msgspec.field(default_factory=_now)

    kind: ClassVar[str] = "message"

    @classmethod
    def tag(cls) -> str:
        """The wire tag, name and version: `BusProbeSent.v1`."""
        return str(cls.__struct_config__.tag)

    @classmethod
    def name(cls) -> str:
        """The message name without its version: it names the stream."""
        return cls.tag().rsplit(".v", 1)[0]


class Command(Message, frozen=True, kw_only=True):
    kind: ClassVar[str] = "command"


class Event(Message, frozen=True, kw_only=True):
    kind: ClassVar[str] = "event"


# --- diagnostics --------------------------------------------------------------------------


class BusProbeSent(Event, frozen=True, kw_only=True, tag="BusProbeSent.v1"):
    """An operator's probe: proves the path outbox -> relay -> stream -> other services."""

    origin: str
    note: str = ""


# --- curriculum (content -> scheduler) ----------------------------------------------------


class LessonText(msgspec.Struct, frozen=True, kw_only=True):
    """What a channel shows of a lesson in one language; the body stays on the lesson page."""

    title: str
    notification: str  # discreet, at most two SMS segments


class PublishedLesson(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # stable across versions: patients keep their place by it
    position: int  # 1-based order within the track
    module: str
    texts: dict[str, LessonText]  # by language: "zh-CN" always, "en" usually
    has_quiz: bool = False


class Cadence(msgspec.Struct, frozen=True, kw_only=True):
    lessons_per_week: int  # 2 or 3
    weekdays: list[int]  # ISO weekday numbers, Monday = 1
    local_time: str  # "HH:MM" in the patient's time zone


class CurriculumPublished(Event, frozen=True, kw_only=True, tag="CurriculumPublished.v1"):
    """A track's published version, with all the scheduler needs (no call back per message)."""

    track: str
    version: int
    titles: dict[str, str]
    cadence: Cadence
    next_track: str | None
    lessons: list[PublishedLesson]
    # "staff" tracks (training for providers) are not for patients: the scheduler skips
    # them. A default, so that events written before the field existed still decode.
    audience: str = "patients"


class LessonOpened(Event, frozen=True, kw_only=True, tag="LessonOpened.v1"):
    """A lesson page was opened through a link; `reader` is the opaque id the link carried."""

    reader: str
    track: str
    lesson_key: str
    version: int
    language: str


class QuizAnswered(Event, frozen=True, kw_only=True, tag="QuizAnswered.v1"):
    reader: str
    track: str
    lesson_key: str
    version: int
    choice: int
    correct: bool


# --- patients (scheduler -> feedback) -----------------------------------------------------


class PatientEnrolled(Event, frozen=True, kw_only=True, tag="PatientEnrolled.v1"):
    """Carries look-up hashes, never identifiers: enough to recognise a sender."""

    patient_id: int
    clinic_id: int
    phone_hash: str | None
    openid_hash: str | None
    language: str
    study_arm: str | None


class PatientUpdated(Event, frozen=True, kw_only=True, tag="PatientUpdated.v1"):
    patient_id: int
    clinic_id: int
    phone_hash: str | None
    openid_hash: str | None
    language: str
    study_arm: str | None
    state: str  # active, paused, discharged
    opted_out: bool


class LessonSent(Event, frozen=True, kw_only=True, tag="LessonSent.v1"):
    """A lesson reached a channel: a reply of 1-5 soon after rates this lesson."""

    message_id: str
    patient_id: int
    clinic_id: int
    track: str
    lesson_key: str
    version: int
    module: str | None = None  # the lesson's module: ratings are reported per module


class DropoutRiskRaised(Event, frozen=True, kw_only=True, tag="DropoutRiskRaised.v1"):
    """A patient missed `missed_days` days in a row: a coordinator should follow up."""

    alert_id: int
    patient_id: int
    clinic_id: int
    missed_days: int
    last_dose_on: str | None  # ISO date, or None if never dosed since enrolment


class RiskAlertRaised(Event, frozen=True, kw_only=True, tag="RiskAlertRaised.v1"):
    """A risk assessment put a patient in a higher band than their last one with the same
    instrument: a coordinator should follow up (the alert `alert_id`)."""

    alert_id: int
    patient_id: int
    clinic_id: int
    instrument: str
    from_band: str  # low, medium
    to_band: str  # medium, high


# --- from feedback (patients' replies) ----------------------------------------------------


class OptOutRequested(Event, frozen=True, kw_only=True, tag="OptOutRequested.v1"):
    """The patient replied STOP / 退订 / TD: nothing more is sent until they opt in."""

    patient_id: int


class OptInRequested(Event, frozen=True, kw_only=True, tag="OptInRequested.v1"):
    """The patient replied START / 订阅."""

    patient_id: int


class ChannelBound(Event, frozen=True, kw_only=True, tag="ChannelBound.v1"):
    """A patient scanned their binding QR code: this openid is theirs. The openid travels
    encrypted (IDENTIFIER_KEYS), with its look-up hash, never in clear."""

    binding_code: str
    openid_encrypted: str
    openid_hash: str


class WeChatMessageReceived(Event, frozen=True, kw_only=True, tag="WeChatMessageReceived.v1"):
    """A patient wrote to the official account: free-text replies are allowed for 48 h."""

    patient_id: int
    at: datetime


class RecordRequested(Event, frozen=True, kw_only=True, tag="RecordRequested.v1"):
    """A patient asked for their own record (RECORD / 记录 / 查询)."""

    patient_id: int


class SurveyRequested(Event, frozen=True, kw_only=True, tag="SurveyRequested.v1"):
    """Feedback asks one survey question; the scheduler sends it as a message like any other
    (channel order, quiet hours, daily cap, opt-out). The text is the question in the
    patient's language: it names no treatment, so it may cross Redis."""

    patient_id: int
    run_id: int
    question_key: str
    text: str
    not_before: datetime | None = None  # e.g. a while after the lesson it asks about
    window_hours: int = 24  # unsent by then: expired, visibly


# --- feedback (patients' replies, for coordinators and reports) ---------------------------


class RatingGiven(Event, frozen=True, kw_only=True, tag="RatingGiven.v1"):
    """A patient rated 1-5; the lesson is the last one sent within the rating window."""

    patient_id: int
    clinic_id: int
    rating: int
    track: str | None = None
    lesson_key: str | None = None


ReplyKind = Literal["need", "help", "record", "survey_answer", "other"]


class ReplyReceived(Event, frozen=True, kw_only=True, tag="ReplyReceived.v1"):
    """A patient wrote back (other than a lesson rating, which is `RatingGiven`, or STOP and
    its undoing, which are `OptOutRequested` / `OptInRequested`): what the feedback service
    classified it as and when, for engagement counts. Never the words."""

    patient_id: int
    clinic_id: int
    reply_kind: ReplyKind  # `kind` is every message's class attribute (event, command)
    at: datetime


class NeedRaised(Event, frozen=True, kw_only=True, tag="NeedRaised.v1"):
    """A patient stated a need; its text stays in the feedback database."""

    need_id: int
    patient_id: int
    clinic_id: int
    category: str  # medical, counselling, legal, housing_income, family, other
    urgent: bool


class UrgentNeedRaised(Event, frozen=True, kw_only=True, tag="UrgentNeedRaised.v1"):
    """An urgent need (overdose, suicide, ...): a coordinator must be told at once."""

    need_id: int
    patient_id: int
    clinic_id: int
    category: str


# --- dispatch (scheduler's planner -> scheduler's dispatchers) -----------------------------


class SendMessage(Command, frozen=True, kw_only=True, tag="SendMessage.v1"):
    """Hand one planned message to a dispatcher. Only the id travels: the address and text
    stay in the scheduler's database, never in Redis."""

    message_id: str


# --- delivery receipts (scheduler's webhooks -> scheduler's worker) -----------------------


class ReceiptUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One provider receipt as parsed at the webhook: ids and a state, never a number."""

    provider_id: str
    state: str  # shared.channels.base.ReceiptState's values: sent, delivered, undelivered, failed
    error_code: str | None = None
    message_id: str | None = None  # ours, when the provider echoes it back


class ReceiptsReceived(Event, frozen=True, kw_only=True, tag="ReceiptsReceived.v1"):
    """What one webhook call brought (one Twilio callback, or an Aliyun/Tencent array),
    accepted and answered at once; the worker applies receipts in batches. `occurred_at` is
    when it arrived."""

    provider: str
    receipts: list[ReceiptUpdate]


class InboundReceived(Event, frozen=True, kw_only=True, tag="InboundReceived.v1"):
    """A patient's message as a feedback webhook accepted it (signature checked, a few
    fields read), for the feedback worker to parse, store and answer. The address and the
    text travel encrypted (IDENTIFIER_KEYS), never in clear; `occurred_at` is its arrival.
    It goes on one of the feedback service's partition streams, not the type's own."""

    channel: str  # "sms" or "wechat"
    provider: str  # twilio, aliyun, tencent, wechat: who carries the answer back
    provider_id: str  # MessageSid, MsgId or a push's keyed hash: a retry carries the same
    sender_hash: str  # IdentifierCipher.lookup_hash of the phone (E.164) or openid
    address: str  # the phone or openid, encrypted
    text: str = ""  # the words, encrypted; empty for an event
    event: str | None = None  # subscribe / unsubscribe (WeChat follows)
    bind_code: str | None = None  # a binding QR code's scene (WeChat), for ChannelBound


# Add each new message type here: the decoder only knows what is listed.
AnyMessage: TypeAlias = (
    BusProbeSent
    | CurriculumPublished
    | LessonOpened
    | QuizAnswered
    | PatientEnrolled
    | PatientUpdated
    | SendMessage
    | DropoutRiskRaised
    | RiskAlertRaised
    | LessonSent
    | RecordRequested
    | SurveyRequested
    | WeChatMessageReceived
    | ChannelBound
    | OptOutRequested
    | OptInRequested
    | RatingGiven
    | ReplyReceived
    | NeedRaised
    | UrgentNeedRaised
    | ReceiptsReceived
    | InboundReceived
)
MESSAGE_TYPES: tuple[type[Message], ...] = (
    BusProbeSent,
    CurriculumPublished,
    LessonOpened,
    QuizAnswered,
    PatientEnrolled,
    PatientUpdated,
    SendMessage,
    DropoutRiskRaised,
    RiskAlertRaised,
    LessonSent,
    RecordRequested,
    SurveyRequested,
    WeChatMessageReceived,
    ChannelBound,
    OptOutRequested,
    OptInRequested,
    RatingGiven,
    ReplyReceived,
    NeedRaised,
    UrgentNeedRaised,
    ReceiptsReceived,
    InboundReceived,
)
