"""The weekly job (`ews weekly`): take the new deliveries, monitor, cut the lists, tell people.

1. Every new delivery folder in the drop folder (default `EWS_HOME/inbox/`) is ingested in name
   order, each all-or-nothing (`serving.ingest`). An ingested folder moves to `done/`; a
   rejected one to `rejected/`, with its one-line reason beside it in `NAME.reason.txt`. Names
   starting with a dot are skipped: copy a delivery in under a dot-name, then rename it.
2. Monitoring of the week against the champion's training window (`serving.monitoring`).
3. The week's lists are cut and stored (`serving.flags`): the pages serve them.
4. Mail (`serving.mail`): one mail per team recipient per week (counts per section and a link to
   the list's page, never a pupil), and a summary for the analysts of every run that did
   something (deliveries taken or rejected, lists cut, the monitoring verdict with its alarms,
   a stale register, retraining due). Then everything still owed is sent.

Idempotent: a week is recomputed only when the store took a new import batch or the champion
changed since the week's last run; otherwise a re-run changes nothing and sends nothing new
(except mail still owed, and a team mail to a recipient added since). The job never retrains.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, case, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from model.calendar import danish_school_days, iso_week, school_year_of
from model.errors import UserError
from model.oversight import monitoring_runs
from model.records import SECTIONS, flag_lists, flags, recipients, weekly_runs
from model.registry import TRAINED_AT
from model.store import import_batches, school_days, schools
from serving import mail as mailing
from serving.flags import resolve_week
from serving.ingest import ingest_folder

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USER_ERROR, EXIT_ALARM = 0, 1, 2, 3
DONE, REJECTED = "done", "rejected"
REASON_SUFFIX = ".reason.txt"
OK, WARNING, ALARM, FAILED = "ok", "warning", "alarm", "failed"

MONTHS_DA = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
             "oktober", "november", "december")
SECTION_DA = {"early_warning": "Tidlig opsporing", "statutory": "Lovkrav (ulovligt fravær)",
              "already_concerning": "Allerede bekymrende"}
SECTION_EN = {"early_warning": "early warning", "statutory": "statutory",
              "already_concerning": "already concerning"}


@dataclass
class Delivery:
    """What became of one folder of the drop folder."""

    name: str
    outcome: str  # taken | unchanged | rejected
    moved_to: str  # relative to the drop folder
    batch_id: int | None = None
    reason: str | None = None


@dataclass
class WeeklyRun:
    """What one run of the weekly job did."""

    week: str
    as_of: date
    drop: Path
    deliveries: list[Delivery] = field(default_factory=list)
    cut: bool = False  # lists cut (and monitoring run) by this run
    model_version: str | None = None
    lists: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # school -> section -> [n, new]
    monitoring: dict[str, Any] = field(default_factory=dict)  # status, alarms, warnings, error
    stale: str | None = None
    retraining: list[str] = field(default_factory=list)
    status: str = OK
    run_id: int | None = None
    mails_planned: int = 0
    notifications: str = ""
    sent: mailing.Sent | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def exit_code(self) -> int:
        """0 ok, 3 done but monitoring alarmed, 1 failure (monitoring failed, mail still owed)."""
        if self.status == FAILED or (self.sent is not None and self.sent.owed):
            return EXIT_FAILURE
        return EXIT_ALARM if self.status == ALARM else EXIT_OK

    def lines(self) -> list[str]:
        """What the command line prints."""
        out = [f"weekly {self.week} (as of {self.as_of}), drop folder {self.drop}"]
        for d in self.deliveries:
            extra = f" (batch {d.batch_id})" if d.batch_id else ""
            extra += f": {d.reason}" if d.reason else ""
            out.append(f"  delivery {d.name}: {d.outcome}{extra} -> {d.moved_to}")
        if not self.deliveries:
            out.append("  no new deliveries")
        if self.cut:
            out.append(f"  lists cut for {len(self.lists)} schools with model version "
                       f"{self.model_version}")
            for school_id, counts in sorted(self.lists.items()):
                out.append(f"    {school_id}: " + ", ".join(
                    f"{counts[s][0]} {SECTION_EN[s]} ({counts[s][1]} new)" for s in SECTIONS))
        else:
            out.append(f"  week {self.week} already done with batch and model as they are: "
                       "lists and monitoring unchanged")
        verdict = self.monitoring.get("status", "-")
        out.append(f"  monitoring: {verdict}" + (f" ({self.monitoring['error']})"
                                                  if self.monitoring.get("error") else ""))
        out += [f"    {line}" for line in self.monitoring.get("alarms", [])]
        if self.stale:
            out.append(f"  stale register: {self.stale}")
        out += [f"  retraining due: {why}" for why in self.retraining]
        out.append(f"  mail: {self.notifications}")
        return out


# -- the job -----------------------------------------------------------------------------------


def run_weekly(settings, engine: Engine, week: str | None = None, drop: Path | None = None, *,
               today: date | None = None, load_champion: Callable | None = None,
               log_monitoring: Callable | None = None,
               sleep: Callable[[float], None] = time.sleep,
               echo: Callable[[str], None] = lambda line: None) -> WeeklyRun:
    """Run the week (default: this one). UserError for a bad week or drop folder, no champion,
    or another run holding the lock; other errors are failures. `log_monitoring(result)` is
    called with a fresh monitoring result (the command line logs it to MLflow)."""
    today = today or date.today()
    week, as_of = resolve_week(week, today)
    inbox = _drop_folder(settings, drop)
    if load_champion is None:
        from serving.champion import load_champion
    with _lock(settings.home_dir / "weekly.lock"):
        run = WeeklyRun(week, as_of, inbox)
        run.deliveries = take_deliveries(settings, engine, inbox, echo=echo)
        champion = load_champion(settings)
        run.model_version = str(champion.version)
        batch_id = _latest_batch(engine)
        previous = _previous_run(engine, week, batch_id, run.model_version)
        if previous is None:
            _compute(settings, engine, run, champion, today, log_monitoring, echo)
        else:
            run.status = previous["status"]
            run.monitoring = previous["summary"].get("monitoring", {})
            run.stale = previous["summary"].get("stale")
            run.retraining = previous["summary"].get("retraining", [])
        run.lists = stored_counts(engine, week)
        if run.cut or run.deliveries:
            run.run_id = _record(engine, run, batch_id)
        _notify(settings, engine, run, sleep, echo)
    return run


def _compute(settings, engine: Engine, run: WeeklyRun, champion, today: date, log_monitoring,
             echo) -> None:
    """Monitor the week and cut its lists (a monitoring failure does not stop the lists)."""
    from model.inputs import load_inputs
    from serving.flags import build_weekly_lists
    from serving.monitoring import champion_reference, monitor_week, store_monitoring

    inputs = load_inputs(engine)
    if not len(inputs.register.pupil_ids):
        raise UserError("nothing is ingested yet: drop a delivery into the inbox or run "
                        "`ews ingest DIR` first")
    echo(f"monitoring {run.week} ...")
    try:
        reference = champion_reference(settings, run.model_version)
        result = monitor_week(settings, engine, champion, reference, run.week, inputs=inputs,
                              today=today)
        store_monitoring(engine, result)
        if log_monitoring is not None:
            log_monitoring(result)
        run.monitoring = {"status": result.status,
                          "alarms": [w for w in result.warnings if w.startswith("drift:")
                                     or w.startswith("precision:")],
                          "warnings": list(result.warnings)}
    except Exception as exc:  # noqa: BLE001 - reported, and the lists are still cut
        log.exception("monitoring %s failed", run.week)
        message = exc.one_line() if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        run.monitoring = {"status": FAILED, "alarms": [], "warnings": [],
                          "error": " ".join(message.split())[:300]}
    echo(f"cutting the lists of {run.week} ...")
    build_weekly_lists(settings, engine, champion, run.week, inputs=inputs,
                       today=today)
    run.cut = True
    run.stale = stale_register(engine, run.as_of)
    run.retraining = retraining_due(engine, champion, run.week, settings.champion_max_age_days)
    run.status = run.monitoring["status"]


# -- the drop folder ---------------------------------------------------------------------------


def _drop_folder(settings, drop: Path | None) -> Path:
    if drop is not None:
        drop = Path(drop).expanduser()
        if not drop.is_dir():
            raise UserError(f"--drop {drop} is not a folder")
        return drop.resolve()
    inbox = (settings.inbox or settings.home_dir / "inbox").expanduser()
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    return inbox.resolve()


def take_deliveries(settings, engine: Engine, inbox: Path,
                    echo: Callable[[str], None] = lambda line: None) -> list[Delivery]:
    """Ingest every delivery folder in `inbox` in name order, each all-or-nothing; move it to
    done/ or (with its reason beside it) to rejected/. A failure that is not the delivery's
    (the store is down) leaves the folder where it is, for the next run."""
    taken = []
    for path in sorted(inbox.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.name in (DONE, REJECTED):
            continue
        echo(f"ingesting {path.name} ...")
        if not path.is_dir():
            taken.append(_reject(inbox, path, "not a folder: a delivery is a folder of the data "
                                              "contract's files"))
            continue
        try:
            result = ingest_folder(settings, engine, path)
        except UserError as err:
            taken.append(_reject(inbox, path, err.one_line()))
            continue
        except (SQLAlchemyError, OSError):
            raise  # the store or the disk, not the delivery: the folder waits for the next run
        except Exception as exc:  # noqa: BLE001 - a file the contract's reader did not foresee
            log.exception("delivery %s could not be read", path.name)
            taken.append(_reject(inbox, path, f"could not be read ({type(exc).__name__}; the "
                                              "job's log has the details)"))
            continue
        moved = _move(path, inbox / DONE)
        taken.append(Delivery(path.name, "taken" if result.changed else "unchanged",
                              str(moved.relative_to(inbox)), result.batch_id))
    return taken


def _reject(inbox: Path, path: Path, reason: str) -> Delivery:
    reason = " ".join(reason.split())
    moved = _move(path, inbox / REJECTED)
    note = moved.with_name(moved.name + REASON_SUFFIX)
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(reason + "\n")
    log.warning("delivery %s rejected: %s", path.name, reason)
    return Delivery(path.name, "rejected", str(moved.relative_to(inbox)), None, reason)


def _move(path: Path, folder: Path) -> Path:
    """Move into `folder` (created owner-only), under a free name: NAME, NAME-2, ..."""
    folder.mkdir(mode=0o700, exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists() or target.with_name(target.name + REASON_SUFFIX).exists():
        n += 1
        target = folder / f"{path.name}-{n}"
    return Path(shutil.move(str(path), str(target)))


@contextmanager
def _lock(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another `ews weekly` is running (lock {path})") from None
        yield
    finally:
        os.close(fd)


# -- what the store says -----------------------------------------------------------------------


def _latest_batch(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(import_batches.c.id))).scalar()


def _previous_run(engine: Engine, week: str, batch_id: int | None,
                  version: str) -> dict | None:
    """The week's latest run that cut the lists with this batch and model, if it did not fail."""
    with engine.connect() as conn:
        rows = conn.execute(select(weekly_runs).where(weekly_runs.c.week == week)
                            .order_by(weekly_runs.c.id.desc())).all()
    for row in rows:
        if row.summary.get("cut"):
            if row.batch_id == batch_id and row.model_version == version and row.status != FAILED:
                return dict(row._mapping)
            return None
    return None


def stored_counts(engine: Engine, week: str) -> dict[str, dict[str, list[int]]]:
    """Per school with a stored list for `week`: per section, [pupils, of whom new]."""
    new = func.sum(case((flags.c.new_this_week, 1), else_=0))
    with engine.connect() as conn:
        headers = conn.execute(select(flag_lists.c.school_id).where(flag_lists.c.week == week)).all()
        rows = conn.execute(
            select(flag_lists.c.school_id, flags.c.section, func.count(flags.c.id), new)
            .join(flags, flags.c.list_id == flag_lists.c.id)
            .where(flag_lists.c.week == week)
            .group_by(flag_lists.c.school_id, flags.c.section)).all()
    counts = {h.school_id: {s: [0, 0] for s in SECTIONS} for h in headers}
    for school_id, section, n, n_new in rows:
        counts[school_id][section] = [int(n), int(n_new or 0)]
    return counts


def listed_pupils(engine: Engine, week: str) -> set[str]:
    """Every pupil id on a stored list of `week` (what no mail may hold)."""
    with engine.connect() as conn:
        return set(conn.execute(select(flags.c.pupil_id).join(
            flag_lists, flag_lists.c.id == flags.c.list_id).where(flag_lists.c.week == week)
        ).scalars())


def stale_register(engine: Engine, as_of: date) -> str | None:
    """A line if no school day was registered in the week before `as_of` although it was a term
    week in the usual Danish calendar; None otherwise."""
    start = as_of - timedelta(days=7)
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(school_days.c.date))
                              .where(school_days.c.date < as_of)).scalar()
    if latest is not None and latest >= start:
        return None
    term = [d for d in danish_school_days(school_year_of(start)) if start <= d < as_of]
    if not term:
        return None
    since = f"the latest school day registered is {latest}" if latest else "nothing is registered"
    return (f"no new school days since last week: {since}, but week {iso_week(start)} was a "
            f"term week; check that the school system's export still reaches the drop folder")


def retraining_due(engine: Engine, champion, week: str, max_age_days: int,
                   now: datetime | None = None) -> list[str]:
    """Why retraining is due, if it is: the champion is older than `max_age_days`, or monitoring
    alarmed in this week's run and in the run of the week before it. Never retrains."""
    why = []
    trained = (getattr(champion, "tags", {}) or {}).get(TRAINED_AT)
    if trained:
        try:
            at = datetime.fromisoformat(trained.replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            age = ((now or datetime.now(UTC)) - at).days
            if age > max_age_days:
                why.append(f"champion version {champion.version} was trained {age} days ago "
                           f"(EWS_CHAMPION_MAX_AGE_DAYS={max_age_days})")
        except ValueError:
            pass
    with engine.connect() as conn:
        latest = conn.execute(select(monitoring_runs.c.week, monitoring_runs.c.status)
                              .where(monitoring_runs.c.week <= week)
                              .order_by(monitoring_runs.c.week.desc(),
                                        monitoring_runs.c.created_at.desc())).all()
    by_week: dict[str, str] = {}
    for w, status in latest:
        by_week.setdefault(w, status)
    last_two = list(by_week.items())[:2]
    if len(last_two) == 2 and all(s == ALARM for _, s in last_two) and last_two[0][0] == week:
        why.append(f"monitoring alarmed twice in a row ({last_two[1][0]} and {week})")
    return why


def _record(engine: Engine, run: WeeklyRun, batch_id: int | None) -> int:
    summary = {"cut": run.cut, "deliveries": [asdict(d) for d in run.deliveries],
               "lists": run.lists, "monitoring": run.monitoring, "stale": run.stale,
               "retraining": run.retraining}
    with engine.begin() as conn:
        return int(conn.execute(insert(weekly_runs).values(
            week=run.week, started_at=run.started_at, status=run.status, batch_id=batch_id,
            model_version=run.model_version, summary=summary)).inserted_primary_key[0])


# -- mail --------------------------------------------------------------------------------------


def _notify(settings, engine: Engine, run: WeeklyRun, sleep, echo) -> None:
    if not settings.smtp_url:
        run.notifications = "off (EWS_SMTP_URL is not set)"
        return
    with engine.connect() as conn:
        people = conn.execute(select(recipients)).all()
        names = dict(conn.execute(select(schools.c.school_id, schools.c.name)).all())
    mails = [team_mail(settings, run.week, run.as_of, r.school_id, names.get(r.school_id, ""),
                       run.lists[r.school_id], r.email)
             for r in people if r.role == "team" and r.school_id in run.lists]
    if run.run_id is not None:
        mails += [analyst_mail(run, r.email) for r in people if r.role == "analyst"]
    pupils = listed_pupils(engine, run.week)
    for m in mails:
        mailing.assert_no_pupil_data(m, pupils)
    run.mails_planned = mailing.plan(engine, mails)
    run.sent = mailing.send_owed(settings, engine, sleep=sleep, log=echo)
    s = run.sent
    run.notifications = (f"{run.mails_planned} new, {s.sent} sent, {s.owed} still owed"
                         + (f" (last error: {s.errors[-1]})" if s.owed and s.errors else ""))


def list_link(settings, school_id: str, week: str) -> str:
    """The address of the school's list of the week on the team pages."""
    return (f"{settings.pages_url.rstrip('/')}/schools/{quote(school_id, safe='')}/flags"
            f"?week={week}")


def _danish_date(day: date) -> str:
    return f"{day.day}. {MONTHS_DA[day.month - 1]} {day.year}"


def _pupils_da(n: int, new: int) -> str:
    return f"{n} {'elev' if n == 1 else 'elever'}, heraf {new} {'ny' if new == 1 else 'nye'}"


def team_mail(settings, week: str, as_of: date, school_id: str, school_name: str,
              counts: dict[str, list[int]], email: str) -> mailing.Mail:
    """The week's mail to one team: the school, the week, per section how many pupils and how
    many new, and the link to the list. Danish with an English line; no pupil, no reason."""
    name = " ".join(str(school_name).split())[:80] or school_id
    link = list_link(settings, school_id, week)
    number = int(week.split("-W")[1])
    width = max(len(v) for v in SECTION_DA.values()) + 1
    rows = [f"  {(SECTION_DA[s] + ':'):<{width}} {_pupils_da(*counts[s])}" for s in SECTIONS]
    english = ", ".join(f"{counts[s][0]} {SECTION_EN[s]} ({counts[s][1]} new)" for s in SECTIONS)
    body = "\n".join([
        f"Til opsporingsteamet på {name} ({school_id})",
        "",
        f"Ugelisten for uge {number} ({week}, opgjort pr. {_danish_date(as_of)}) er klar:",
        "",
        *rows,
        "",
        "Se listen her (log ind med teamets nøgle):",
        link,
        "",
        "Mailen nævner med vilje hverken elever eller begrundelser: dem finder I kun på siden.",
        "",
        f"English: the weekly list of {name} ({school_id}) for {week} is ready: {english}. "
        f"See {link}",
        "",
        "-- ",
        "Fraværsradar",
    ])
    return mailing.Mail(key=f"team:{week}:{school_id}:{email}", week=week, kind="team",
                        recipient=email, school_id=school_id, body=body + "\n",
                        subject=f"Fraværsradar: ugelisten for uge {number} er klar – {name}")


def analyst_mail(run: WeeklyRun, email: str) -> mailing.Mail:
    """The analysts' summary of one run: deliveries, lists, monitoring, register, retraining."""
    verdict = run.monitoring.get("status", "-")
    rejected = [d for d in run.deliveries if d.outcome == "rejected"]
    flags_ = [f"monitoring {verdict.upper() if verdict in (ALARM, FAILED) else verdict}"]
    if rejected:
        flags_.append(f"{len(rejected)} delivery rejected" if len(rejected) == 1
                      else f"{len(rejected)} deliveries rejected")
    if run.stale:
        flags_.append("stale register")
    if run.retraining:
        flags_.append("retraining due")
    lines = [f"Fraværsradar, weekly run {run.run_id} for {run.week} (as of {run.as_of}).", "",
             f"Deliveries (drop folder {run.drop}):"]
    for d in run.deliveries:
        if d.outcome == "rejected":
            lines.append(f"  rejected  {d.name}: {mailing.scrub(d.reason or '')} "
                         f"(full reason in {d.moved_to}{REASON_SUFFIX})")
        else:
            lines.append(f"  {d.outcome:<9} {d.name}" + (f" (batch {d.batch_id})" if d.batch_id
                                                          else " (nothing new)"))
    if not run.deliveries:
        lines.append("  none")
    lines.append("")
    if run.cut:
        lines.append(f"Lists cut: {len(run.lists)} schools, model version {run.model_version}")
        for school_id, counts in sorted(run.lists.items()):
            lines.append(f"  {school_id}: " + ", ".join(
                f"{counts[s][0]} {SECTION_EN[s]} ({counts[s][1]} new)" for s in SECTIONS))
    else:
        lines.append("Lists: unchanged (no new import batch and the same champion since the "
                     "week's last run)")
    lines += ["", f"Monitoring: {verdict}" + (f" - {run.monitoring['error']}"
                                              if run.monitoring.get("error") else "")]
    lines += [f"  - {line}" for line in run.monitoring.get("warnings", [])]
    lines += ["", f"Register: {'STALE - ' + run.stale if run.stale else 'new school days since last week'}"]
    lines += ["", "Retraining due: " + ("; ".join(run.retraining) if run.retraining else "no")
              + (" (ews weekly never retrains: run `ews train`, then promote)" if run.retraining
                 else "")]
    body = "\n".join(lines) + "\n"
    return mailing.Mail(key=f"analyst:{run.week}:{run.run_id}:{email}", week=run.week,
                        kind="analyst", recipient=email,
                        subject=f"Fraværsradar {run.week}: " + ", ".join(flags_), body=body)
