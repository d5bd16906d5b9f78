"""The store: SQLAlchemy 2 tables, schema migrations (Alembic) and the register strips.

The daily register is kept as one *register strip* per (pupil, school year): two 366-byte
columns indexed by the day of the school year (days since 1 August). `status` holds one code per
day (0 = no entry, see STATUS_CODES) and `absent` the absent fraction in 1/200ths of a day.
A municipality's three years (6,000 pupils, 3.6M entries) is 18,000 rows, read back into the
pupil x school-day matrix in well under a second, on SQLite and PostgreSQL alike (the fast read
path is model.register). The long form (one row per pupil per day) is what the contract
exchanges; `model.register.register_rows` gives it back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    select,
)

STRIP_DAYS = 366
FRACTION_SCALE = 200
STATUS_CODES = {"present": 1, "illness": 2, "authorised": 3, "unauthorised": 4}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
FEW_KEYS = 2000  # read_strips looks fewer keys up by primary key instead of by school year

metadata = MetaData()

schools = Table(
    "schools",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

pupils = Table(
    "pupils",
    metadata,
    Column("pupil_id", String(64), primary_key=True),
    Column("birth_date", Date),
    Column("gender", String(1)),
)

enrolments = Table(
    "enrolments",
    metadata,
    Column("pupil_id", String(64), ForeignKey("pupils.pupil_id"), primary_key=True),
    Column("school_year", String(7), primary_key=True),
    Column("school_id", String(64), ForeignKey("schools.school_id"), nullable=False, index=True),
    Column("grade", SmallInteger, nullable=False),
    Column("class_id", String(64)),
    Column("special_needs", Boolean),
)

register = Table(
    "register",
    metadata,
    Column("pupil_id", String(64), ForeignKey("pupils.pupil_id"), primary_key=True),
    Column("school_year", String(7), primary_key=True),
    Column("status", LargeBinary, nullable=False),
    Column("absent", LargeBinary, nullable=False),
)

school_days = Table(
    "school_days",
    metadata,
    Column("school_id", String(64), ForeignKey("schools.school_id"), primary_key=True),
    Column("date", Date, primary_key=True),
)

concerns = Table(
    "concerns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pupil_id", String(64), ForeignKey("pupils.pupil_id"), nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("source", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("severity", SmallInteger),
    UniqueConstraint("pupil_id", "date", "source", "category", name="uq_concern"),
)

class_wellbeing = Table(
    "class_wellbeing",
    metadata,
    Column("class_id", String(64), primary_key=True),
    Column("school_year", String(7), primary_key=True),
    Column("social", Float),
    Column("academic", Float),
    Column("calm_order", Float),
    Column("support", Float),
)

import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("files", JSON, nullable=False),  # [{file, sha256, rows}], never the contents
    Column("report", JSON, nullable=False),  # the data-quality report
)

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for the store URL; SQLite gets foreign keys and WAL, and its file is created
    owner-only (its -wal and -shm files take the same mode).
    """
    from model.files import private_file, sqlite_file

    if (path := sqlite_file(url)) is not None:
        private_file(path)
    engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(url: str) -> Engine:
    """An engine on a migrated store."""
    engine = make_engine(url)
    migrate(engine)
    return engine


# --- register strips -------------------------------------------------------------------------


def empty_strips(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Status and absent arrays for n strips, all days without an entry."""
    return np.zeros((n, STRIP_DAYS), np.uint8), np.zeros((n, STRIP_DAYS), np.uint8)


def read_strips(conn, keys: pd.DataFrame | None = None,
                school_years: list[str] | None = None) -> pd.DataFrame:
    """Register strips as a frame (pupil_id, school_year, status, absent: bytes): all of them,
    or only those of `school_years` and/or whose (pupil_id, school_year) is in `keys`.

    Only the wanted school years are read; up to FEW_KEYS keys are fetched by primary key, so a
    merge of a small correction does not read a whole year.
    """
    columns = ["pupil_id", "school_year", "status", "absent"]
    query = select(register)
    years = None if school_years is None else set(school_years)
    if keys is not None:
        years = set(keys["school_year"]) if years is None else years & set(keys["school_year"])
    if years is not None:
        if not years:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        query = query.where(register.c.school_year.in_(sorted(years)))
    if keys is not None and len(keys) <= FEW_KEYS:
        ids = sorted(set(keys["pupil_id"]))
        rows = []
        for i in range(0, len(ids), 500):  # stay below SQLite's bound-parameter limit
            rows += conn.execute(query.where(register.c.pupil_id.in_(ids[i : i + 500]))).all()
    else:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=columns)
    if keys is not None and len(frame):
        wanted = pd.MultiIndex.from_frame(keys[["pupil_id", "school_year"]])
        frame = frame[pd.MultiIndex.from_frame(frame[["pupil_id", "school_year"]]).isin(wanted)]
    return frame.reset_index(drop=True)
