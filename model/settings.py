"""All configuration in one place (pydantic-settings). Read once with `get_settings()`, pass it in."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Typed settings with defaults that work on a laptop; production refuses unsafe values."""

    model_config = SettingsConfigDict(env_prefix="EWS_", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    home: Path = Field(default=Path(".ews"))
    database_url: str | None = None
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "EWS_MLFLOW_TRACKING_URI")
    )
    pseudonym_key: str | None = None
    registered_model_name: str = "fravaersradar"

    # The prediction target (interfaces.md).
    concern_threshold: float = Field(0.15, gt=0, lt=1, description="label: total absence share")
    horizon_days: int = Field(60, ge=10, le=200, description="school days after the as-of date")
    trailing_days: int = Field(60, ge=10, le=200, description="window for 'already concerning'")
    min_horizon_coverage: float = Field(
        0.5, gt=0, le=1, description="share of the horizon a pupil must be registered for a label"
    )
    particularly_problematic: float = Field(0.15, gt=0, lt=1)

    # The weekly list.
    capacity_share: float = Field(0.05, gt=0, le=1, description="list length as share of pupils")
    capacity_min: int = Field(3, ge=1)
    capacity_overrides: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description='list length per school, e.g. EWS_CAPACITY_OVERRIDES=\'{"S01": 8}\'',
    )

    # Promotion gates.
    gate_min_lift_over_rules: float = 1.1
    gate_max_calibration_error: float = 0.05

    # Statutory quarter rule (unauthorised absence per calendar quarter).
    statutory_warning: float = 0.10
    statutory_notification: float = 0.15

    threads: int = Field(1, ge=1, description="OpenMP/BLAS threads per process")

    # Monitoring, retention and erasure (issue 7).
    monitor_psi_warning: float = Field(0.10, gt=0, description="PSI from which a shift is shown")
    monitor_psi_limit: float = Field(0.25, gt=0, description="PSI above which drift is an alarm")
    monitor_min_rows: int = Field(50, ge=1, description="rows a school needs to be compared")
    monitor_precision_margin: float = Field(
        0.0, ge=0, le=1, description="how far realised precision may fall below the best rule's")
    monitor_min_known: int = Field(
        30, ge=1, description="listed pupils with known outcomes before precision is judged")
    monitor_precision_weeks: int = Field(
        52, ge=1, description="weeks of stored lists whose realised precision is pooled")
    retention_school_years: int = Field(
        2, ge=1, description="school years of scores, lists and reviews kept (current included)")
    retention_register_school_years: int = Field(
        3, ge=2, description="school years of register data kept (the model needs last year's)")
    audit_retention_days: int = Field(
        5 * 365, ge=365, description="days the audit log is kept; older rows are purged")

    # Model card and feedback in evaluation (issue 7: notebooks, model card, feedback).
    contact: str = Field(
        "the municipality's data protection officer (databeskyttelsesrådgiver)",
        description="who parents and staff contact about the model, shown on the model card",
    )
    intervention_labels: Literal["mark", "exclude", "ignore"] = Field(
        "mark", description="evaluation rows of pupils under an active intervention (a team's "
        "'investigate' decision within the label horizon before the as-of date): mark and report "
        "them, exclude them, or ignore the reviews",
    )

    # -- issue 12: backtest on rolling folds, refit, gates on the backtest --
    backtest_folds: int = Field(3, ge=1, le=6, description="rolling-origin test windows of the backtest")
    backtest_fold_weeks: int = Field(
        12, ge=4, le=26, description="weekly as-of dates per test window (shrinks with little history)")
    train_grid_size: int = Field(
        2, ge=1, le=3, description="tree structures of the hyperparameter grid tried on the folds")
    train_seed: int = Field(0, description="random seed of every fit (reproducible choice)")
    calibrate_season: bool = Field(
        True, description="the calibration map takes the season (month of the as-of date) as input")
    gate_champion_tolerance: float = Field(
        0.0, ge=0, le=1, description="how far below the champion's precision a new version may be")

    # -- issue 13: hardening (server-side sessions of the team pages) --
    session_idle_minutes: int = Field(
        60, ge=1, le=24 * 60, description="a page session ends after this long without a request")
    session_max_hours: int = Field(
        12, ge=1, le=7 * 24, description="a page session ends this long after login, in use or not")

    # -- issue 14: the weekly job, its drop folder and its notifications by e-mail.
    smtp_url: str | None = Field(
        None, description="smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://...; "
        "unset: no mail is sent (the weekly job still runs)")
    mail_from: str = Field("fravaersradar@localhost", description="the From: of the mails")
    pages_url: str = Field("http://localhost:8000/pages",
                           description="the team pages' address, for the links in mails")
    mail_attempts: int = Field(4, ge=1, le=20, description="tries per mail in one run")
    mail_backoff_seconds: float = Field(
        2.0, ge=0, description="wait before the second try; doubled before each further one")
    mail_timeout_seconds: float = Field(30.0, gt=0, description="SMTP connect/read timeout")
    smtp_ca_file: Path | None = Field(
        None, description="CA certificates (PEM) the SMTP server's certificate is verified "
        "against, e.g. the municipality's own CA (default: the system's)")
    champion_max_age_days: int = Field(
        180, ge=1, description="the analysts' summary says retraining is due past this age")
    inbox: Path | None = Field(None, description="the drop folder (default EWS_HOME/inbox)")

    @model_validator(mode="after")
    def _known_smtp_scheme(self) -> Settings:
        """smtp://, smtp+starttls:// or smtps://; a password only where the line is encrypted."""
        if not self.smtp_url:
            self.smtp_url = None
            return self
        from urllib.parse import urlsplit

        parts = urlsplit(self.smtp_url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            raise ValueError("EWS_SMTP_URL must look like smtp://host:port, "
                             "smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465")
        if parts.scheme == "smtp" and parts.password:
            raise ValueError("EWS_SMTP_URL: a password is sent only over smtp+starttls:// or "
                             "smtps://")
        return self

    # -- issue 15: the municipality's view (KPIs against the plan's targets)
    kpi_baseline_school_year: str | None = Field(
        None, pattern=r"^\d{4}/\d{2}$",
        description="the school year the targets are measured from (default: the earliest "
                    "school year in the register)")
    kpi_target_problematic: float = Field(
        -0.15, gt=-1, le=0, description="target change of the share of pupils at or over the "
                                        "'particularly problematic' line, against the baseline")
    kpi_target_notifications: float = Field(
        -0.10, gt=-1, le=0, description="target change of the pupils reaching the statutory "
                                        "notification line (15 % unauthorised in a quarter)")
    kpi_concerning: float = Field(0.10, gt=0, lt=1,
                                  description="concerning absence ('bekymrende fravær')")
    kpi_suppress_below: int = Field(
        5, ge=1, description="counts of 1 to this minus 1 pupils are blanked (small numbers)")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if not self.pseudonym_key or len(self.pseudonym_key) < 32:
                raise ValueError("EWS_PSEUDONYM_KEY must be set (>= 32 characters) in production")
            if self.database_url is None:
                raise ValueError("EWS_DATABASE_URL must be set in production")
        return self

    @property
    def home_dir(self) -> Path:
        """The state folder, created on first use."""
        from model.files import private_dir

        return private_dir(self.home.expanduser().resolve())

    @property
    def store_url(self) -> str:
        """SQLAlchemy URL of the store: EWS_DATABASE_URL or a SQLite file in EWS_HOME."""
        return self.database_url or f"sqlite:///{self.home_dir / 'ews.db'}"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: MLFLOW_TRACKING_URI or a SQLite database in EWS_HOME."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow keeps the artifacts of runs and models."""
        return self.home_dir / "mlartifacts"

    def secret_key(self) -> bytes:
        """The pseudonym key: EWS_PSEUDONYM_KEY, else one generated once and kept owner-only."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        path = self.home_dir / "pseudonym.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
