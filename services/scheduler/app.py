"""The scheduler service's HTTP app."""

from __future__ import annotations

from litestar import Litestar
from redis.asyncio import Redis

from services.scheduler.api import AlertController, ClinicActivityController, PatientController
from services.scheduler.assessment_api import (
    AssessmentController,
    AssessmentPlanController,
    ClinicAssessmentsDueController,
    QuestionnaireController,
)
from services.scheduler.assessment_html import assessment_page, assessment_submit
from services.scheduler.assessment_links import AssessmentLinks
from services.scheduler.calendar_api import ClinicDayController, ClinicWeekController
from services.scheduler.dead_letters import DeadLetterController
from services.scheduler.definition import SERVICE
from services.scheduler.handouts_api import HandoutController
from services.scheduler.mi.api import (
    ClinicMiController,
    MiSessionController,
    PatientMiController,
    StudyMiController,
)
from services.scheduler.patient_labels import PatientLabelController
from services.scheduler.receipts import ReceiptConfig, twilio_status
from services.scheduler.receipts_cn import aliyun_report, tencent_status
from services.scheduler.record_html import record_page
from services.scheduler.record_links import RecordLinks
from services.scheduler.risk_api import (
    RecordViewController,
    RiskAssessmentController,
    RiskInstrumentController,
)
from services.scheduler.signals_api import ClinicSignalsController
from services.scheduler.studies.api import PatientStudyController, StudyController
from services.scheduler.studies.export_api import StudyExportController
from services.scheduler.studies.interviews_api import InterviewController
from services.scheduler.tasks.api import ClinicTaskController, TaskController
from services.scheduler.worker import load_cipher
from shared.access.api import AuditController, ClinicController
from shared.bus import BusKeys
from shared.channels.sms_push import SmsPushConfig
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.settings import Settings, get_settings
from shared.web import build_app


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    redis: Redis | None = None,
    cipher: IdentifierCipher | None = None,
) -> Litestar:
    return build_app(
        SERVICE,
        title="MMT scheduler service",
        description=(
            "Patients, schedules, the reminder planner and dispatch over pluggable channels."
        ),
        api_handlers=[
            ClinicController,
            AuditController,
            PatientController,
            ClinicActivityController,
            AlertController,
            RiskAssessmentController,
            RiskInstrumentController,
            RecordViewController,
            ClinicDayController,
            ClinicWeekController,
            DeadLetterController,
            ClinicSignalsController,
            TaskController,
            ClinicTaskController,
            AssessmentController,
            AssessmentPlanController,
            ClinicAssessmentsDueController,
            QuestionnaireController,
            StudyController,
            PatientStudyController,
            HandoutController,
            InterviewController,
            StudyExportController,
            PatientMiController,
            MiSessionController,
            ClinicMiController,
            StudyMiController,
            PatientLabelController,
        ],
        settings=settings,
        db=db,
        redis=redis,
        root_handlers=[
            twilio_status,
            aliyun_report,
            tencent_status,
            record_page,
            assessment_page,
            assessment_submit,
        ],
        extra_state={
            "cipher": cipher or load_cipher(),
            "receipts": ReceiptConfig.from_environment(),
            "sms_push": SmsPushConfig.from_environment(),
            "record_links": RecordLinks.from_environment(),
            "assessment_links": AssessmentLinks.from_environment(),
            "bus_keys": BusKeys((settings or get_settings()).bus.bus_prefix),
        },
    )
