"""Mail: who is told that a week's list is ready (recipients), what is owed (the outbox), and
sending it through SMTP with retries and backoff.

E-mail is not a channel for personal data. A mail holds counts and a link to the team pages,
never a pupil id, a CPR number or a reason; `assert_no_pupil_data` refuses a mail that would.
Every mail is planned into `mail_outbox` under a key (one team mail per school, address and
week; one analysts' summary per weekly run and address) before anything is sent, so a mail is
never sent twice and never lost: a failed send is retried with backoff within the run, each
failure is recorded on the row, and whatever is still owed is sent by the next run.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, insert, select, update

from model.contract import CPR_ANYWHERE
from model.errors import UserError
from model.records import RECIPIENT_ROLES, mail_outbox, recipients
from model.store import schools

EMAIL = re.compile(r"^[^@\s,;<>\"']{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
RECIPIENT_ADD, RECIPIENT_REMOVE = "recipient_add", "recipient_remove"  # audit log actions
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


# -- recipients --------------------------------------------------------------------------------


def check_email(address: str) -> str:
    """The address, trimmed and lower-cased; UserError unless it looks like one."""
    address = (address or "").strip().lower()
    if len(address) > 254 or not EMAIL.match(address):
        raise UserError(f"--email must be an e-mail address like team@skole.dk, not {address!r}")
    return address


def add_recipient(engine: Engine, email: str, role: str = "team",
                  school_id: str | None = None) -> dict:
    """Register who is told: a school's team (`school_id` required) or an analyst (no school).
    UserError for a bad address or role, an unknown school, or the same recipient twice."""
    email = check_email(email)
    if role not in RECIPIENT_ROLES:
        raise UserError(f"--role must be one of {', '.join(RECIPIENT_ROLES)}, not {role!r}")
    if role == "team" and not school_id:
        raise UserError("a team recipient needs --school")
    if role == "analyst" and school_id:
        raise UserError("an analyst recipient gets the municipality's summary: leave out --school")
    with engine.begin() as conn:
        if school_id is not None and conn.execute(
                select(schools.c.school_id).where(schools.c.school_id == school_id)).first() is None:
            raise UserError(f"unknown school {school_id!r} (ingest a delivery that names it first)")
        same = select(recipients.c.id).where(recipients.c.email == email,
                                             recipients.c.role == role)
        same = same.where(recipients.c.school_id.is_(None) if school_id is None
                          else recipients.c.school_id == school_id)
        if conn.execute(same).first() is not None:
            where = f" of school {school_id}" if school_id else ""
            raise UserError(f"{email} is already a {role} recipient{where}")
        new_id = conn.execute(insert(recipients).values(
            email=email, role=role, school_id=school_id, created_at=datetime.now(UTC),
        )).inserted_primary_key[0]
    return {"id": int(new_id), "email": email, "role": role, "school_id": school_id}


def list_recipients(engine: Engine) -> list[dict]:
    """Every recipient, analysts first, then by school and address."""
    with engine.connect() as conn:
        rows = conn.execute(select(recipients).order_by(
            recipients.c.role, recipients.c.school_id, recipients.c.email)).all()
    return [dict(r._mapping) for r in rows]


def remove_recipient(engine: Engine, email: str, school_id: str | None = None,
                     role: str | None = None) -> list[dict]:
    """Remove the address (only as the given school's team or in the given role, if given) and
    cancel the mails still owed to it; the removed rows. UserError if none matched."""
    email = check_email(email)
    query = select(recipients).where(recipients.c.email == email)
    if school_id is not None:
        query = query.where(recipients.c.school_id == school_id)
    if role is not None:
        query = query.where(recipients.c.role == role)
    with engine.begin() as conn:
        found = [dict(r._mapping) for r in conn.execute(query).all()]
        if not found:
            raise UserError(f"no recipient {email}" + (f" at school {school_id}" if school_id else ""))
        conn.execute(recipients.delete().where(recipients.c.id.in_([r["id"] for r in found])))
        left = conn.execute(select(recipients.c.id).where(recipients.c.email == email)).first()
        if left is None:  # not a recipient any more in any role: nothing more is sent to it
            conn.execute(update(mail_outbox).where(
                mail_outbox.c.recipient == email, mail_outbox.c.sent_at.is_(None),
                mail_outbox.c.cancelled_at.is_(None)).values(cancelled_at=datetime.now(UTC)))
    return found


# -- what is owed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One planned mail: a key that makes it unique, who gets it, and its plain text."""

    key: str
    week: str
    kind: str  # team | analyst
    recipient: str
    subject: str
    body: str
    school_id: str | None = None


QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def scrub(text: str) -> str:
    """A line fit for a mail: quoted values (which may be ids) and anything CPR-shaped masked."""
    return CPR_ANYWHERE.sub("<CPR>", QUOTED.sub("'…'", text))


def assert_no_pupil_data(mail: Mail, pupil_ids: Iterable[str]) -> None:
    """Refuse (ValueError) a mail whose text holds any of the given pupil ids or a CPR number."""
    text = f"{mail.subject}\n{mail.body}"
    if CPR_ANYWHERE.search(text):
        raise ValueError(f"mail {mail.key} would hold a CPR number")
    for pupil_id in pupil_ids:
        if pupil_id and pupil_id in text:
            raise ValueError(f"mail {mail.key} would hold a pupil id")


def plan(engine: Engine, mails: Iterable[Mail]) -> int:
    """Put the mails whose key is not in the outbox yet into it; how many were new."""
    now = datetime.now(UTC)
    new = 0
    with engine.begin() as conn:
        for mail in mails:
            if conn.execute(select(mail_outbox.c.id).where(mail_outbox.c.key == mail.key)).first():
                continue
            conn.execute(insert(mail_outbox).values(
                key=mail.key, week=mail.week, kind=mail.kind, school_id=mail.school_id,
                recipient=mail.recipient, subject=mail.subject[:200], body=mail.body,
                created_at=now, attempts=0))
            new += 1
    return new


def has_key(engine: Engine, key: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(mail_outbox.c.id).where(mail_outbox.c.key == key)).first() is not None


def owed(engine: Engine) -> list[dict]:
    """Mails planned but neither sent nor cancelled, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(mail_outbox).where(
            mail_outbox.c.sent_at.is_(None), mail_outbox.c.cancelled_at.is_(None))
            .order_by(mail_outbox.c.id)).all()
    return [dict(r._mapping) for r in rows]


# -- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from EWS_SMTP_URL."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UserError("EWS_SMTP_URL must look like smtp://host:port, "
                            "smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise UserError("EWS_SMTP_URL has a bad port") from None
        return cls(parts.scheme, parts.hostname, port,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def __str__(self) -> str:  # never the password
        return f"{self.scheme}://{self.host}:{self.port}"

    def connect(self, timeout: float, ca_file=None) -> smtplib.SMTP:
        """An open, authenticated connection; TLS verified against `ca_file` or the system's
        CAs (host name included)."""
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if self.scheme == "smtps":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout,
                                                  context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=timeout)
        try:
            conn.ehlo()
            if self.scheme == "smtp+starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password or "")
        except BaseException:
            conn.close()
            raise
        return conn


@dataclass
class Sent:
    """What one sending pass did."""

    sent: int = 0
    owed: int = 0  # still owed after every attempt of this run
    attempts: int = 0
    errors: list[str] | None = None


def message(mail: dict, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail["recipient"]
    msg["Subject"] = mail["subject"]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(mail["body"])
    return msg


def send_owed(settings, engine: Engine, *, sleep: Callable[[float], None] = time.sleep,
              log: Callable[[str], None] = lambda line: None) -> Sent:
    """Send every mail still owed; retry failures up to `mail_attempts` times with backoff
    (`mail_backoff_seconds`, doubled each time), recording every failed attempt on its row."""
    result = Sent(errors=[])
    pending = owed(engine)
    if not pending:
        return result
    server = SmtpServer.from_url(settings.smtp_url)
    wait = settings.mail_backoff_seconds
    for attempt in range(1, settings.mail_attempts + 1):
        if attempt > 1:
            log(f"mail: {len(pending)} still owed; trying again in {wait:g} s "
                f"(attempt {attempt} of {settings.mail_attempts})")
            sleep(wait)
            wait *= 2
        pending = _one_pass(settings, engine, server, pending, result)
        if not pending:
            break
    result.owed = len(pending)
    return result


def _one_pass(settings, engine: Engine, server: SmtpServer, pending: list[dict],
              result: Sent) -> list[dict]:
    """Try each pending mail once over one connection; the ones that failed."""
    failed: list[dict] = []
    conn = None
    try:
        conn = server.connect(settings.mail_timeout_seconds, settings.smtp_ca_file)
    except OSError as exc:  # refused, unreachable, TLS or login failed
        error = _one_line(exc, server)
        result.errors.append(error)
        _record_failures(engine, [m["id"] for m in pending], error)
        result.attempts += len(pending)
        return pending
    try:
        for i, mail in enumerate(pending):
            result.attempts += 1
            try:
                conn.send_message(message(mail, settings.mail_from))
            except OSError as exc:  # smtplib's errors are OSErrors too
                error = _one_line(exc, server)
                result.errors.append(error)
                _record_failures(engine, [mail["id"]], error)
                failed.append(mail)
                if isinstance(exc, REFUSED):  # this mail only; the connection still serves
                    continue
                failed += pending[i + 1:]  # the connection is gone: the rest wait for the retry
                break
            with engine.begin() as db:
                db.execute(update(mail_outbox).where(mail_outbox.c.id == mail["id"]).values(
                    attempts=mail_outbox.c.attempts + 1, last_attempt_at=datetime.now(UTC),
                    sent_at=datetime.now(UTC)))
            result.sent += 1
    finally:
        try:
            conn.quit()
        except OSError:
            conn.close()
    return failed


def _record_failures(engine: Engine, ids: list[int], error: str) -> None:
    if not ids:
        return
    with engine.begin() as db:
        db.execute(update(mail_outbox).where(mail_outbox.c.id.in_(ids)).values(
            attempts=mail_outbox.c.attempts + 1, last_attempt_at=datetime.now(UTC),
            last_error=error[:300]))


def _one_line(exc: BaseException, server: SmtpServer) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{server}: {type(exc).__name__}: {text}"[:300]
