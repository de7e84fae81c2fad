"""What we answer a patient, by language: short, discreet (no treatment named), kind.

The answers are the `patient` catalog's `reply.<kind>` (shared/locale, shared/i18n.py)."""

from __future__ import annotations

from shared.i18n import texts


def reply_text(kind: str, language: str, phone: str = "") -> str:
    return texts(language)[f"reply.{kind}"].format(phone=phone or "120")


def unknown_sender_text() -> str:
    """We do not know the sender's language: both, Chinese first."""
    return f"{texts('zh-CN')['reply.unknown']} {texts('en')['reply.unknown']}"
