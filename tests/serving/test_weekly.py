"""The weekly job (serving tier, with a real SMTP server on loopback): deliveries taken from the
drop folder in order, a bad one rejected with its reason while the lists are still cut, a re-run
that changes and sends nothing, one mail per team with the right link and no pupil data, the
analysts' summary, retries against a server that is down and the catch-up of a later run, an
alarm twice in a row, and the recipients' commands (audited).

A small municipality (48 pupils, 3 schools, autumn 2024; half the pupils with CPR numbers): its
first 8 school weeks are ingested and a tiny model is registered as champion with the reference
distributions monitoring reads, once per module; each test works on a copy of that EWS_HOME.
"""

from __future__ import annotations

import email
import shutil
import socket
from datetime import UTC, date, datetime, timedelta
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from sqlalchemy import func, select

from model.records import audit_log, flag_lists, flags, mail_outbox, scores, weekly_runs
from model.settings import Settings
from model.store import import_batches, open_store
from serving.mail import add_recipient, remove_recipient
from serving.weekly import run_weekly, stale_register, team_mail
from tests.factories import small_municipality
from tests.serving.conftest import KEY, train_tiny

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (dev extra) not installed")

WEEK, AS_OF = "2024-W46", date(2024, 11, 11)  # the Monday after the twelve delivered weeks
FIRST_DAYS = 40  # school days ingested before the drop folder is used (weeks 1-8)
CHANGED_PUPIL = "P002"  # a pupil without a CPR number whose one day two deliveries disagree on


# -- the municipality, the champion and the deliveries -----------------------------------------


def _part(town, first: int, last: int):
    """The town with only the register of school days [first, last)."""
    part = town.copy()
    days = sorted(set(town["attendance"]["date"]))[first:last]
    reg = part["attendance"]
    part.files["attendance"] = reg.loc[reg["date"].isin(days)].reset_index(drop=True)
    return part, days


def settings_for(home: Path, **changes) -> Settings:
    base = dict(home=home, pseudonym_key=KEY, environment="test",
                database_url=f"sqlite:///{home / 'ews.db'}",
                mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
                pages_url="http://testserver/pages", mail_from="fravaersradar@kommune.example",
                mail_attempts=3, mail_backoff_seconds=0.01,
                # monitoring quiet unless a test asks for an alarm
                monitor_psi_warning=1e8, monitor_psi_limit=1e9)
    return Settings(**{**base, **changes})


def register_with_reference(settings, engine, model) -> str:
    """Register `model` as champion with the reference distributions of its training window."""
    import mlflow

    from model.features import feature_matrix, weekly_as_of_dates
    from model.inputs import load_inputs
    from model.monitoring import reference_distributions
    from serving.monitoring import REFERENCE_ARTIFACT
    from training.tracking import mlflow_client

    # this registry's experiment made the active one (an earlier test's stays active otherwise)
    client = mlflow_client(settings)
    builder = load_inputs(engine).feature_builder()
    days = builder.day_major.days
    window = builder.build(weekly_as_of_dates(days, days[10].astype(object),
                                              days[-1].astype(object)))
    reference = reference_distributions(
        window, model.predict_proba(feature_matrix(window))[:, 1], min_rows=10)
    with mlflow.start_run():
        mlflow.log_dict(reference, REFERENCE_ARTIFACT)
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",
                                        pip_requirements=["scikit-learn"])
    version = str(mlflow.register_model(info.model_uri, settings.registered_model_name).version)
    client.set_model_version_tag(settings.registered_model_name, version, "trained_at",
                                 datetime.now(UTC).isoformat(timespec="seconds"))
    client.set_registered_model_alias(settings.registered_model_name, "champion", version)
    return version


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(home, town): the first 8 weeks ingested and a champion registered."""
    from serving.ingest import ingest_folder

    root = tmp_path_factory.mktemp("weekly")
    home = root / "home"
    home.mkdir()
    settings = settings_for(home)
    engine = open_store(settings.store_url)
    town = small_municipality(pupils=48, schools=3, weeks=12, cpr=True, seed=3)
    first, _ = _part(town, 0, FIRST_DAYS)
    ingest_folder(settings, engine, first.write(root / "first"))
    register_with_reference(settings, engine, train_tiny(engine, 0, 15))
    engine.dispose()
    return home, town


@pytest.fixture
def world(base, tmp_path):
    """A copy of the base EWS_HOME with its settings and store."""
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    settings = settings_for(home)
    engine = open_store(settings.store_url)
    yield settings, engine, base[1]
    engine.dispose()


def drop_deliveries(inbox: Path, town, bad: bool = True) -> dict[str, str]:
    """Two valid deliveries (weeks 9-10, then weeks 11-12 with one corrected day of week 9) and,
    with `bad`, a third whose register has an unknown status; returns what the corrected day
    says in each valid delivery."""
    a, days_a = _part(town, FIRST_DAYS, 50)
    b, _ = _part(town, 50, 60)
    reg_a = a["attendance"]
    row = reg_a.index[(reg_a["pupil_id"] == CHANGED_PUPIL) & (reg_a["date"] == days_a[0])][0]
    reg_a.loc[row, ["status", "absent_fraction"]] = ["illness", ""]
    corrected = reg_a.loc[[row]].assign(status="unauthorised")
    b.files["attendance"] = pd.concat([b["attendance"], corrected], ignore_index=True)
    a.write(inbox / "2024-11-01-a")
    b.write(inbox / "2024-11-02-b")
    if bad:
        c, _ = _part(town, 55, 60)
        c["attendance"].loc[3, "status"] = "sunburnt"
        c.write(inbox / "2024-11-03-c")
    return {"date": days_a[0], "a": "illness", "b": "unauthorised"}


# -- a real SMTP server on loopback ------------------------------------------------------------


class Collect:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = Collect()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def text_of(message) -> str:
    return f"{message['subject']}\n{message['to']}\n{message.get_content()}"


def every_pupil_id(town, engine) -> set[str]:
    """Every pupil id of the deliveries as delivered (CPR numbers with and without hyphen) and as
    stored (pseudonyms)."""
    from model.store import pupils

    delivered = set(town["pupils"]["pupil_id"])
    delivered |= {p.replace("-", "") for p in delivered}
    with engine.connect() as conn:
        stored = set(conn.execute(select(pupils.c.pupil_id)).scalars())
    return delivered | stored


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "batches": conn.execute(select(func.count()).select_from(import_batches)).scalar(),
            "lists": conn.execute(select(flag_lists.c.id, flag_lists.c.school_id,
                                         flag_lists.c.created_at).order_by(flag_lists.c.id)).all(),
            "flags": conn.execute(select(flags).order_by(flags.c.id)).all(),
            "scores": conn.execute(select(func.count()).select_from(scores)).scalar(),
            "runs": conn.execute(select(func.count()).select_from(weekly_runs)).scalar(),
            "outbox": conn.execute(select(mail_outbox.c.id, mail_outbox.c.sent_at)).all(),
        }


def folder_listing(inbox: Path) -> list[str]:
    return sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*"))


# -- the tests ---------------------------------------------------------------------------------


def test_deliveries_are_taken_in_order_a_bad_one_is_rejected_and_the_lists_are_still_cut(world):
    settings, engine, town = world
    inbox = settings.home_dir / "inbox"
    inbox.mkdir()
    corrected = drop_deliveries(inbox, town)
    batches_before = count(engine, import_batches)

    run = run_weekly(settings, engine, WEEK)

    assert [(d.name, d.outcome) for d in run.deliveries] == [
        ("2024-11-01-a", "taken"), ("2024-11-02-b", "taken"), ("2024-11-03-c", "rejected")]
    assert count(engine, import_batches) == batches_before + 2  # nothing of the bad one
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["2024-11-01-a", "2024-11-02-b"]
    assert not [p for p in inbox.iterdir() if p.name not in ("done", "rejected")]
    reason_file = inbox / "rejected" / "2024-11-03-c.reason.txt"
    assert (inbox / "rejected" / "2024-11-03-c" / "attendance.csv").exists()
    reason = reason_file.read_text()
    assert reason.count("\n") == 1 and reason.startswith("attendance.csv, line 5, column status")
    assert run.deliveries[2].reason == reason.strip()
    assert oct(reason_file.stat().st_mode & 0o777) == "0o600"

    # in order: the later delivery's correction of the day is what the store holds
    from model.inputs import load_inputs
    from model.store import STATUS_CODES

    register = load_inputs(engine).register
    row = list(register.pupil_ids).index(CHANGED_PUPIL)
    col = list(register.days.astype(str)).index(corrected["date"])
    assert register.status[row, col] == STATUS_CODES[corrected["b"]]
    assert str(register.days[-1]) == "2024-11-08"  # both valid deliveries are in

    # the week's lists are cut and stored, from what was valid
    assert run.cut and run.exit_code == 0 and run.status == "ok"
    assert sorted(run.lists) == ["S1", "S2", "S3"]
    with engine.connect() as conn:
        stored = conn.execute(select(flag_lists.c.school_id, flag_lists.c.as_of)
                              .where(flag_lists.c.week == WEEK)).all()
    assert sorted(stored) == [("S1", AS_OF), ("S2", AS_OF), ("S3", AS_OF)]
    assert run.stale is None  # week 45 was registered
    assert run.notifications.startswith("off")  # no EWS_SMTP_URL: nothing planned or sent
    assert count(engine, mail_outbox) == 0

    # a re-run of the week changes nothing: no batch, same lists and flags, same folders
    before, listing = snapshot(engine), folder_listing(inbox)
    again = run_weekly(settings, engine, WEEK)
    assert not again.deliveries and not again.cut and again.exit_code == 0
    assert snapshot(engine) == before and folder_listing(inbox) == listing


def test_each_team_gets_one_mail_with_the_link_and_no_pupil_data_and_analysts_a_summary(world, smtp):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.auth import create_token

    settings, engine, town = world
    settings = settings_for(settings.home, smtp_url=smtp.url)
    inbox = settings.home_dir / "inbox"
    inbox.mkdir()
    drop_deliveries(inbox, town)
    add_recipient(engine, "Team-S1@Skole1.example", "team", "S1")
    add_recipient(engine, "leder@skole1.example", "team", "S1")
    add_recipient(engine, "team@skole2.example", "team", "S2")  # S3 has no recipient
    add_recipient(engine, "analytiker@kommune.example", "analyst")
    add_recipient(engine, "gone@skole2.example", "team", "S2")
    remove_recipient(engine, "gone@skole2.example")

    run = run_weekly(settings, engine, WEEK)
    assert run.exit_code == 0 and run.sent.sent == 4 and run.sent.owed == 0

    teams = [m for m in smtp.messages if "ugelisten" in m["subject"]]
    summaries = [m for m in smtp.messages if m not in teams]
    assert sorted(m["to"] for m in teams) == ["leder@skole1.example", "team-s1@skole1.example",
                                              "team@skole2.example"]
    assert [m["to"] for m in summaries] == ["analytiker@kommune.example"]
    assert all(m["from"] == "fravaersradar@kommune.example" for m in smtp.messages)

    # no pupil id, CPR number or reason text in any mail
    ids = every_pupil_id(town, engine)
    from model.contract import CPR_ANYWHERE
    from model.reasons import TEMPLATES

    with engine.connect() as conn:
        listed_reasons = [r for rs in conn.execute(select(flags.c.reasons)).scalars() for r in rs]
    assert listed_reasons  # the early-warning flags carry reasons; none may reach a mail
    from serving.stored_lists import reason_texts

    sentences = {t["text"] for lang in ("da", "en") for t in reason_texts(listed_reasons, lang)}
    for message in smtp.messages:
        text = text_of(message)
        assert not [p for p in ids if p in text], message["subject"]
        assert not CPR_ANYWHERE.search(text)
        assert not [s for s in sentences if s in text]
        assert not [f for f in TEMPLATES if f in text]  # not even a reason's feature name

    # the team mail: Danish with an English line; the school, the week, counts per section and
    # new; and the link to the school's list of the week, which the pages serve to that team
    s1 = next(m for m in teams if m["to"] == "leder@skole1.example")
    body = s1.get_content()
    counts = run.lists["S1"]
    assert "Skole 1 (S1)" in body and "uge 46 (2024-W46, opgjort pr. 11. november 2024)" in body
    n, new = counts["early_warning"]
    assert "Tidlig opsporing:" in body and f"{n} elev" in body and f"heraf {new} n" in body
    assert "English: the weekly list of Skole 1 (S1) for 2024-W46 is ready: " in body
    link = next(line for line in body.splitlines() if line.startswith("http"))
    assert link == "http://testserver/pages/schools/S1/flags?week=2024-W46"
    app = create_app(settings, poll_seconds=0, warm=False)
    with TestClient(app, follow_redirects=False) as c:
        token = create_token(engine, "team", "S1", name="team-S1").token
        assert c.post("/pages/login", data={"token": token}).status_code == 303
        page = c.get(urlsplit(link).path + "?" + urlsplit(link).query)
        assert page.status_code == 200 and "2024-W46" in page.text

    # the analysts' summary: deliveries taken and rejected, lists, the verdict, the register
    summary = summaries[0].get_content()
    assert summaries[0]["subject"] == "Fraværsradar 2024-W46: monitoring ok, 1 delivery rejected"
    assert "taken     2024-11-01-a (batch" in summary and "taken     2024-11-02-b" in summary
    assert "rejected  2024-11-03-c: attendance.csv, line 5, column status:" in summary
    assert "rejected/2024-11-03-c.reason.txt" in summary
    assert "Lists cut: 3 schools, model version 1" in summary and "Monitoring: ok" in summary
    assert "Retraining due: no" in summary

    # the outbox recorded each mail once; a second run of the week sends nothing
    with engine.connect() as conn:
        rows = conn.execute(select(mail_outbox)).all()
    assert len(rows) == 4 and all(r.sent_at is not None and r.attempts == 1 for r in rows)
    again = run_weekly(settings, engine, WEEK)
    assert again.exit_code == 0 and again.mails_planned == 0 and len(smtp.messages) == 4
    # a team added later gets the week's mail on the next run; the others nothing new
    add_recipient(engine, "team@skole3.example", "team", "S3")
    late = run_weekly(settings, engine, WEEK)
    assert late.mails_planned == 1 and [m["to"] for m in smtp.messages[4:]] == ["team@skole3.example"]


def test_a_server_that_is_down_gets_retries_and_a_later_run_catches_up(world):
    settings, engine, town = world
    server = SmtpServer()  # its port, nothing listening yet
    settings = settings_for(settings.home, smtp_url=server.url, mail_attempts=3,
                            mail_backoff_seconds=0.05)
    add_recipient(engine, "team@skole1.example", "team", "S1")
    add_recipient(engine, "analytiker@kommune.example", "analyst")
    waits: list[float] = []

    down = run_weekly(settings, engine, WEEK, sleep=waits.append)
    assert down.exit_code == 1 and down.cut  # the lists are stored all the same
    assert waits == [0.05, 0.1]  # three attempts, backoff doubled
    assert down.sent.sent == 0 and down.sent.owed == 2
    with engine.connect() as conn:
        rows = conn.execute(select(mail_outbox)).all()
    assert len(rows) == 2
    assert all(r.sent_at is None and r.attempts == 3 and "ConnectionRefusedError" in r.last_error
               for r in rows)
    assert count(engine, flag_lists) == 3

    server.start()
    try:
        later = run_weekly(settings, engine, WEEK, sleep=waits.append)
        assert later.exit_code == 0 and not later.cut and later.sent.sent == 2
        assert sorted(m["to"] for m in server.messages) == ["analytiker@kommune.example",
                                                            "team@skole1.example"]
        again = run_weekly(settings, engine, WEEK)
        assert again.sent.sent == 0 and len(server.messages) == 2
    finally:
        server.stop()
    with engine.connect() as conn:
        assert all(r.sent_at is not None and r.attempts == 4
                   for r in conn.execute(select(mail_outbox)).all())


def test_an_alarm_gives_exit_3_and_twice_in_a_row_makes_retraining_due(world, smtp):
    settings, engine, _ = world
    alarmed = settings_for(settings.home, smtp_url=smtp.url, monitor_psi_warning=1e-9,
                           monitor_psi_limit=1e-8)
    add_recipient(engine, "analytiker@kommune.example", "analyst")
    first = run_weekly(alarmed, engine, "2024-W43")
    assert first.status == "alarm" and first.exit_code == 3 and first.monitoring["alarms"]
    assert not first.retraining
    second = run_weekly(alarmed, engine, "2024-W44")
    assert second.exit_code == 3
    assert second.retraining == ["monitoring alarmed twice in a row (2024-W43 and 2024-W44)"]
    summary = smtp.messages[-1]
    assert summary["subject"] == "Fraværsradar 2024-W44: monitoring ALARM, stale register, retraining due"
    body = summary.get_content()
    assert "  - drift: " in body and "monitoring alarmed twice in a row" in body
    assert "ews weekly never retrains" in body
    # re-running the alarmed week: unchanged, still exit 3, nothing sent
    again = run_weekly(alarmed, engine, "2024-W44")
    assert again.exit_code == 3 and not again.cut and again.mails_planned == 0

    # an old champion makes retraining due as well
    old = settings_for(settings.home, smtp_url=smtp.url, champion_max_age_days=1)
    from serving.champion import load_champion
    from serving.weekly import retraining_due

    champion = load_champion(old)
    assert retraining_due(engine, champion, "2024-W46", 30) == []
    why = retraining_due(engine, champion, "2024-W46", 30,
                         now=datetime.now(UTC) + timedelta(days=40))
    assert why == ["champion version 1 was trained 40 days ago (EWS_CHAMPION_MAX_AGE_DAYS=30)"]


def test_a_stale_register_is_reported_in_term_and_not_in_a_holiday(world):
    settings, engine, _ = world
    # the store holds the first 8 weeks: the last school day is Friday 2024-10-04 (week 40)
    assert stale_register(engine, date(2024, 10, 7)) is None
    assert stale_register(engine, date(2024, 10, 21)) is None  # week 42 is the autumn break
    assert "week 2024-W41 was a term week" in stale_register(engine, date(2024, 10, 14))
    line = stale_register(engine, date(2024, 10, 28))
    assert line.startswith("no new school days since last week: the latest school day "
                           "registered is 2024-10-04, but week 2024-W43 was a term week")
    run = run_weekly(settings, engine, "2024-W44")
    assert run.stale == line


def test_team_mail_refuses_nothing_but_holds_only_counts():
    settings = Settings(pages_url="https://ews.kommune.dk/pages/")
    mail = team_mail(settings, "2026-W48", date(2026, 11, 23), "S 1/æ", "Skole\nEt",
                     {"early_warning": [1, 1], "statutory": [0, 0], "already_concerning": [2, 0]},
                     "t@x.dk")
    assert "https://ews.kommune.dk/pages/schools/S%201%2F%C3%A6/flags?week=2026-W48" in mail.body
    assert "1 elev, heraf 1 ny" in mail.body and "2 elever, heraf 0 nye" in mail.body
    assert mail.subject == "Fraværsradar: ugelisten for uge 48 er klar – Skole Et"
    assert mail.key == "team:2026-W48:S 1/æ:t@x.dk"


def test_smtp_url_forms_and_a_password_only_over_tls():
    from pydantic import ValidationError

    from serving.mail import SmtpServer as Server

    s = Server.from_url("smtp+starttls://ews%40k.dk:p%3Ass@mail.k.dk")
    assert (s.scheme, s.host, s.port, s.user, s.password) == ("smtp+starttls", "mail.k.dk", 587,
                                                              "ews@k.dk", "p:ss")
    assert Server.from_url("smtps://mail.k.dk").port == 465
    assert Server.from_url("smtp://localhost:2525").port == 2525
    assert "p:ss" not in str(s) and "p%3Ass" not in str(s)
    with pytest.raises(ValidationError, match="a password is sent only over"):
        Settings(smtp_url="smtp://u:secret@mail.k.dk")
    with pytest.raises(ValidationError, match="must look like"):
        Settings(smtp_url="http://mail.k.dk")


def test_recipients_commands_check_input_and_every_change_is_audited(world, monkeypatch):
    from typer.testing import CliRunner

    from ews.cli import app
    from model import settings as settings_module

    settings, engine, _ = world
    monkeypatch.setenv("EWS_HOME", str(settings.home))
    monkeypatch.setenv("EWS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("EWS_DATABASE_URL", settings.store_url)
    settings_module.get_settings.cache_clear()
    cli = CliRunner()
    try:
        added = cli.invoke(app, ["recipients", "add", "--school", "S1", "--email", "t@s1.dk"])
        assert added.exit_code == 0, added.output
        analyst = cli.invoke(app, ["recipients", "add", "--role", "analyst", "--email", "a@k.dk"])
        assert analyst.exit_code == 0, analyst.output
        for args, message in (
                (["--school", "S9", "--email", "t@s9.dk"], "unknown school 'S9'"),
                (["--email", "t@s1.dk"], "a team recipient needs --school"),
                (["--school", "S1", "--email", "not-an-address"], "must be an e-mail address"),
                (["--school", "S1", "--email", "t@s1.dk"], "already a team recipient"),
                (["--role", "analyst", "--school", "S1", "--email", "b@k.dk"], "leave out --school")):
            bad = cli.invoke(app, ["recipients", "add", *args])
            assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
        listed = cli.invoke(app, ["recipients", "list"])
        assert "analyst  -          a@k.dk" in listed.output
        assert "team     S1         t@s1.dk" in listed.output
        removed = cli.invoke(app, ["recipients", "remove", "--email", "t@s1.dk"])
        assert removed.exit_code == 0 and "removed recipient" in removed.output
        assert cli.invoke(app, ["recipients", "remove", "--email", "t@s1.dk"]).exit_code == 2
    finally:
        settings_module.get_settings.cache_clear()
    with engine.connect() as conn:
        audited = conn.execute(select(audit_log.c.action, audit_log.c.school_id, audit_log.c.detail)
                               .where(audit_log.c.actor == "cli:recipients")
                               .order_by(audit_log.c.id)).all()
    assert [(a, s, d["email"]) for a, s, d in audited] == [
        ("recipient_add", "S1", "t@s1.dk"), ("recipient_add", None, "a@k.dk"),
        ("recipient_remove", "S1", "t@s1.dk")]


def test_a_monitoring_failure_still_cuts_the_lists_and_exits_1_and_a_loose_file_is_rejected(
        world, monkeypatch):
    import serving.monitoring
    from model.errors import UserError

    settings, engine, _ = world
    inbox = settings.home_dir / "inbox"
    inbox.mkdir()
    (inbox / "attendance.csv").write_text("pupil_id,date,status\n")

    def no_reference(settings, version):
        raise UserError(f"model version {version} has no reference distributions")

    monkeypatch.setattr(serving.monitoring, "champion_reference", no_reference)
    run = run_weekly(settings, engine, "2024-W41")
    assert run.exit_code == 1 and run.status == "failed" and run.cut
    assert run.monitoring["error"] == "model version 1 has no reference distributions"
    assert count(engine, flag_lists) == 3  # the teams' lists are out all the same
    assert [(d.name, d.outcome) for d in run.deliveries] == [("attendance.csv", "rejected")]
    assert (inbox / "rejected" / "attendance.csv.reason.txt").read_text().startswith(
        "not a folder: a delivery is a folder")
    # a failed run is not "done": the next run monitors and cuts again
    monkeypatch.undo()
    again = run_weekly(settings, engine, "2024-W41")
    assert again.cut and again.status == "ok" and again.exit_code == 0


def test_two_runs_at_once_are_refused(world):
    import fcntl
    import os

    from model.errors import UserError

    settings, engine, _ = world
    fd = os.open(settings.home_dir / "weekly.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UserError, match="another `ews weekly` is running"):
            run_weekly(settings, engine, WEEK)
    finally:
        os.close(fd)
    assert count(engine, flag_lists) == 0


@pytest.mark.postgres
def test_the_weekly_job_on_postgresql(base, tmp_path, postgres_url, smtp):
    from serving.ingest import ingest_folder

    home = tmp_path / "home"
    shutil.copytree(base[0], home)  # the registry (SQLite) with its champion
    town = base[1]
    settings = settings_for(home, database_url=postgres_url, smtp_url=smtp.url)
    engine = open_store(settings.store_url)
    try:
        first, _ = _part(town, 0, FIRST_DAYS)
        ingest_folder(settings, engine, first.write(tmp_path / "first"))
        inbox = settings.home_dir / "inbox"
        inbox.mkdir()
        drop_deliveries(inbox, town)
        add_recipient(engine, "team@skole1.example", "team", "S1")
        add_recipient(engine, "analytiker@kommune.example", "analyst")

        run = run_weekly(settings, engine, WEEK)
        assert [d.outcome for d in run.deliveries] == ["taken", "taken", "rejected"]
        assert run.exit_code == 0 and run.cut and sorted(run.lists) == ["S1", "S2", "S3"]
        assert sorted(m["to"] for m in smtp.messages) == ["analytiker@kommune.example",
                                                          "team@skole1.example"]
        ids = every_pupil_id(town, engine)
        assert not [p for m in smtp.messages for p in ids if p in text_of(m)]
        before = snapshot(engine)
        again = run_weekly(settings, engine, WEEK)
        assert not again.cut and again.mails_planned == 0 and len(smtp.messages) == 2
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_an_unreadable_delivery_is_rejected_but_a_store_failure_leaves_it_for_the_next_run(
        world, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import serving.weekly as weekly

    settings, engine, town = world
    inbox = settings.home_dir / "inbox"
    drop_deliveries(inbox, town, bad=False)

    def store_down(settings, engine, folder, **kw):
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(weekly, "ingest_folder", store_down)
    with pytest.raises(OperationalError):
        weekly.take_deliveries(settings, engine, inbox)
    assert sorted(p.name for p in inbox.iterdir()) == ["2024-11-01-a", "2024-11-02-b"]

    def unforeseen(settings, engine, folder, **kw):
        raise ValueError("a reader's surprise")

    monkeypatch.setattr(weekly, "ingest_folder", unforeseen)
    taken = weekly.take_deliveries(settings, engine, inbox)
    assert [(d.outcome, d.reason) for d in taken] == [
        ("rejected", "could not be read (ValueError; the job's log has the details)")] * 2


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (key, cert), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed here")
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_mail_over_tls_with_a_login_verifies_the_server(scheme, certificate, tmp_path):
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from serving.mail import Mail, plan, send_owed

    key, cert = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"ews@kommune.example", b"p@ss:word")
        logins.append(ok)
        return AuthResult(success=ok)

    handler, port = Collect(), free_port()
    # aiosmtpd's auth_require_tls looks at STARTTLS only; under smtps the line is TLS throughout
    tls = ({"tls_context": server_tls, "require_starttls": True, "auth_require_tls": True}
           if scheme == "smtp+starttls" else {"ssl_context": server_tls, "auth_require_tls": False})
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_required=True, **tls)
    controller.start()
    try:
        url = f"{scheme}://ews%40kommune.example:p%40ss%3Aword@127.0.0.1:{port}"
        home = tmp_path / "home"
        engine = open_store(f"sqlite:///{tmp_path / 'ews.db'}")
        mail = Mail("k1", WEEK, "team", "t@s1.example", "Emne æ", "Brødtekst\n", "S1")
        plan(engine, [mail])
        untrusted = send_owed(settings_for(home, smtp_url=url, mail_attempts=1), engine)
        assert untrusted.sent == 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.errors[0]
        trusted = send_owed(settings_for(home, smtp_url=url, smtp_ca_file=cert), engine)
        assert trusted.sent == 1 and trusted.owed == 0 and logins[-1] is True
        assert [m["subject"] for m in handler.messages] == ["Emne æ"]
        assert handler.messages[0].get_content().rstrip() == "Brødtekst"
    finally:
        controller.stop()
