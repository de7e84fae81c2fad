"""Tables every service keeps for the bus, declared once as mixins.

A service mixes them into its own declarative base, so each lives in that service's schema:
- `outbox`: events written in the same transaction as the change that caused them;
- `processed_messages`: ids of messages already handled, written in the handler's
  transaction, which is what makes redelivery harmless.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class OutboxMixin:
    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    message_name: Mapped[str] = mapped_column(String(100))
    message_tag: Mapped[str] = mapped_column(String(100))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        # The relay only ever looks for unpublished rows: keep that index tiny.
        return (
            Index(
                "ix_outbox_unpublished",
                "seq",
                postgresql_where=text("published_at IS NULL"),
                sqlite_where=text("published_at IS NULL"),
            ),
            Index("ix_outbox_published_at", "published_at"),
        )


class ProcessedMessageMixin:
    __tablename__ = "processed_messages"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_tag: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
