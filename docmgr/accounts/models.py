"""Organisations, users and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.database import Base, UTCDateTime, utcnow
from docmgr.vocab import (  # noqa: F401 - re-exported: the models speak of them
    COUNTRIES,
    READS_EVERYTHING_ROLES,
    WRITER_ROLES,
    OrganizationKind,
    Role,
)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    # The name in the other script (Cyrillic for Italian firms, Latin for Russian ones), for
    # bilingual agreements and cross-script search.
    name_alt: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(20), default=OrganizationKind.FIRM.value)
    address: Mapped[str | None] = mapped_column(Text)
    address_alt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(5))
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    # Browser sessions carry this number (docmgr.accounts.sessions): raising it ends every session of
    # the user at once (logout, deactivation), in every worker process.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when an administrator gave a temporary password: the user is asked to choose their own at login.
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="users")

    # Flask-Login's protocol, written out so models stay free of Flask imports.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.is_active_account)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @property
    def is_legal(self) -> bool:
        return self.role == Role.LEGAL.value

    @property
    def is_firm(self) -> bool:
        return self.role == Role.FIRM.value

    @property
    def is_ministry(self) -> bool:
        return self.role == Role.MINISTRY.value

    @property
    def sees_everything(self) -> bool:
        """Admins, legal staff and the ministry read every document; firms read their own
        (for templates; services ask ``accounts.permissions``)."""
        return self.role in READS_EVERYTHING_ROLES

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Logins, failed and not: failures in a row for one (address, e-mail) pair throttle that pair
    (docmgr.accounts.services); an admin lifting the throttle sets ``lifted_at`` on them."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PasswordReset(Base):
    """A request for a password-reset link (docmgr.accounts.passwords).

    Every request through "forgot password" is a row, also for an e-mail nobody has (``user_id`` and
    ``token_hash`` empty), so the throttle counts them all and answers the same whoever asks. Only the
    SHA-256 of the link's token is stored; a link works once (``used_at``) and until ``expires_at``."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # an admin who sent the link
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
