"""Request and response models of the HTTP API, with the examples shown in the OpenAPI document.

Pupil ids in responses are always the stored ids (pseudonyms for pupils delivered with a CPR
number); a CPR number given in a request is never echoed back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from model.records import DECISIONS, ROLES
from serving.scope import pupil_id_rule, school_id_rule


def _iso_date_only(value):
    """A date is given as ISO text (2025-03-04), never as a number (0 would be 1970-01-01)."""
    if value is not None and not isinstance(value, str | date):
        raise ValueError("must be a date like 2025-03-04")
    return value


SchoolIdText = Annotated[str, AfterValidator(school_id_rule)]
PupilIdText = Annotated[str, AfterValidator(pupil_id_rule)]

Band = Literal["low", "watch", "raised", "high"]
Language = Literal["da", "en"]

REASON_EXAMPLE = {
    "feature": "unauthorised_rate_4w", "group": "unauthorised_recent", "value": 0.12,
    "effect": 0.84,
    "text": "Ulovligt fravær de sidste 4 skoleuger: 12 % af skoledagene (skolens gennemsnit 2 %)",
}
FLAG_EXAMPLE = {
    "id": 812, "pupil_id": "p-3f9c2a1b7d0e4c5a6b7c", "rank": 1, "grade": 6, "risk": 0.41,
    "band": "raised", "reasons": [REASON_EXAMPLE], "absence_year": 0.09, "trend": 0.06,
    "statutory_level": None, "unauthorised_quarter": None, "new_this_week": True, "review": None,
    "also": [],
}


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "urn:fravaersradar:problem:forbidden", "title": "Forbidden", "status": 403,
        "detail": "This token may not see this resource, or the resource does not exist.",
        "instance": "/v1/pupils/{pupil_id}/risk"}]})

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemItem] | None = Field(
        None, description="for 422: each broken rule, with the row and column where it applies")


class ProblemItem(BaseModel):
    rule: str
    location: str | None = None
    file: str | None = None
    row: int | None = Field(None, description="entries[row] of a pushed register, or a file line")
    column: str | None = None


class Health(BaseModel):
    """Whether the service can answer, and with which model."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ok", "model_version": "3", "registry_reachable": True, "problem": None,
        "checked_at": "2025-03-03T08:00:00Z", "loaded_at": "2025-03-01T06:00:00Z",
        "store_reachable": True, "warm": True}]})

    status: Literal["ok", "degraded"]
    model_version: str | None = Field(None, description="the champion version being served")
    registry_reachable: bool | None = Field(
        None, description="whether the last check of the model registry answered (null: not yet)")
    problem: str | None = Field(None, description="why the status is degraded")
    checked_at: datetime | None = None
    loaded_at: datetime | None = None
    store_reachable: bool
    warm: bool = Field(False, description="every school's scores at the default as-of date are "
                                          "computed for the served model (first requests fast)")


class Reason(BaseModel):
    """One reason group's contribution; `effect` in log-odds (positive raises the risk)."""

    model_config = ConfigDict(json_schema_extra={"examples": [REASON_EXAMPLE]})

    feature: str
    group: str | None = None
    value: float | None
    effect: float
    text: str


class PupilRisk(BaseModel):
    """A pupil's risk as of a date, with the reasons behind it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pupil_id": "p-3f9c2a1b7d0e4c5a6b7c", "school_id": "S01", "as_of": "2025-03-03",
        "grade": 6, "risk": 0.41, "band": "raised", "already_concerning": False,
        "reasons": [REASON_EXAMPLE], "model_version": "3", "language": "da"}, {
        "pupil_id": "p-3f9c2a1b7d0e4c5a6b7c", "school_id": "S01", "as_of": "2025-03-03",
        "grade": 6, "risk": None, "band": None, "already_concerning": True, "reasons": [],
        "model_version": None, "language": "da", "statutory_level": "warning",
        "message": "no champion model is promoted yet: no risk is given until one is; the rules "
                   "(already concerning, the statutory quarter rule) still apply"}]})

    pupil_id: str = Field(description="the stored id (a pseudonym for a CPR number)")
    school_id: str
    as_of: date = Field(description="only what was registered before this date counts")
    grade: int
    risk: float | None = Field(ge=0, le=1, description="calibrated probability of concerning "
                               "absence over the horizon; null when no champion model is "
                               "promoted yet (see `message`)")
    band: Band | None
    already_concerning: bool = Field(description="over the threshold in the trailing window: a "
                                                 "known case")
    reasons: list[Reason]
    model_version: str | None = Field(description="the champion used; null when none is "
                                                  "promoted yet")
    language: Language
    statutory_level: Literal["warning", "notification"] | None = Field(
        None, description="the statutory quarter rule's level at the as-of date; given when no "
                          "champion is promoted (the weekly list carries it otherwise)")
    message: str | None = Field(None, description="why `risk` is null: no champion model is "
                                                  "promoted yet")


class HistoryWeek(BaseModel):
    week: str = Field(description="ISO week, e.g. 2025-W10")
    as_of: date = Field(description="the Monday after the week: the risk's as-of date")
    school_days_registered: int
    days_absent: float
    absence: float | None = Field(None, description="days absent / school days registered")
    risk: float | None = Field(None, description="null where the pupil was not on roll")
    band: Band | None = None
    already_concerning: bool | None = None


class PupilHistory(BaseModel):
    """A pupil's weekly absence and risk over one school year."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pupil_id": "p-3f9c2a1b7d0e4c5a6b7c", "school_id": "S01", "school_year": "2024/25",
        "model_version": "3", "weeks": [{
            "week": "2024-W33", "as_of": "2024-08-19", "school_days_registered": 5,
            "days_absent": 1.0, "absence": 0.2, "risk": 0.12, "band": "watch",
            "already_concerning": False}]}]})

    pupil_id: str
    school_id: str
    school_year: str
    model_version: str | None = Field(description="null when no champion is promoted yet "
                                                  "(absence only, risk null)")
    weeks: list[HistoryWeek]


class Review(BaseModel):
    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    decided_on: str
    decided_by: str


class Flag(BaseModel):
    """One pupil on a weekly list, in one section."""

    model_config = ConfigDict(json_schema_extra={"examples": [FLAG_EXAMPLE]})

    id: int
    pupil_id: str
    rank: int
    grade: int
    risk: float | None = Field(None, description="null in the statutory section (a rule)")
    band: Band | None = None
    reasons: list[Reason]
    absence_year: float | None = None
    trend: float | None = None
    statutory_level: str | None = None
    unauthorised_quarter: float | None = None
    new_this_week: bool
    review: Review | None = Field(None, description="the pupil's latest review at the school")
    also: list[Literal["statutory", "already_concerning"]] = Field(
        default_factory=list, description="other sections the pupil is in this week: a pupil is "
        "listed once, in the first section that applies (a badge for the others)")


class FlagDetail(Flag):
    """One flag with its list's week, school and section."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **FLAG_EXAMPLE, "week": "2025-W10", "school_id": "S01", "as_of": "2025-03-03",
        "model_version": "3", "section": "early_warning"}]})

    week: str
    school_id: str
    as_of: date
    model_version: str | None = None
    section: Literal["early_warning", "statutory", "already_concerning"]


class FlagSections(BaseModel):
    early_warning: list[Flag]
    statutory: list[Flag]
    already_concerning: list[Flag]


class FlagList(BaseModel):
    """A school's weekly list: early warnings, statutory triggers and known cases, apart."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "week": "2025-W10", "school_id": "S01", "as_of": "2025-03-03", "model_version": "3",
        "capacity": 12, "pupils_on_roll": 480,
        "sections": {"early_warning": [FLAG_EXAMPLE], "statutory": [], "already_concerning": []},
    }]})

    week: str
    school_id: str
    as_of: date
    model_version: str | None = Field(
        description="the champion that ranked the early warnings; null when none was promoted "
                    "yet: the statutory and already-concerning sections are rules and are there, "
                    "the early-warning section is empty")
    capacity: int
    pupils_on_roll: int
    message: str | None = Field(None, description="why a section is empty, e.g. that the "
                                                  "early-warning section waits for a promoted model")
    sections: FlagSections = Field(description="each pupil once, in the first section that "
                                               "applies: early warning, statutory, already "
                                               "concerning")


class ReviewIn(BaseModel):
    """The detection team's coded decision (no free text)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "investigate", "decided_on": "2025-03-04"}]})

    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    decided_on: Annotated[date | None, BeforeValidator(_iso_date_only)] = Field(
        None, description="default: today; between the list's Monday and today, else 422")


class ReviewOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 17, "flag_id": 812, "pupil_id": "p-3f9c2a1b7d0e4c5a6b7c", "school_id": "S01",
        "week": "2025-W10", "decision": "investigate", "decided_on": "2025-03-04",
        "decided_by": "team:team-S01-4f2a1c"}]})

    id: int
    flag_id: int
    pupil_id: str
    school_id: str
    week: str
    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    decided_on: date
    decided_by: str


class RegisterEntry(BaseModel):
    """One pupil's register entry for the day (the data contract's attendance row)."""

    model_config = ConfigDict(extra="forbid")

    pupil_id: str = Field(max_length=64, description="a CPR number or the pseudonymous id")
    status: str = Field(max_length=64, description="present, illness, authorised or "
                                                   "unauthorised (or the Danish names)")
    absent_fraction: float | None = Field(
        None, description="share of the day absent; blank means the whole day for an absence")


class RegisterPush(BaseModel):
    """One school's register for one school day: all entries are taken, or none."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "school_id": "S01", "date": "2025-03-03",
        "entries": [{"pupil_id": "P0001", "status": "present"},
                    {"pupil_id": "P0002", "status": "illness", "absent_fraction": 0.5}]}]})

    school_id: SchoolIdText = Field(min_length=1, max_length=64)
    date: date
    entries: list[RegisterEntry] = Field(min_length=1, max_length=5000)


class RegisterResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "school_id": "S01", "date": "2025-03-03", "entries": 2, "changed": True,
        "batch_id": 41}]})

    school_id: str
    date: date
    entries: int
    changed: bool = Field(description="false when every entry was already in the store")
    batch_id: int | None


class ModelInfo(BaseModel):
    """The champion being served: when and on what it was trained, and how well it does."""

    model_config = ConfigDict(protected_namespaces=(), json_schema_extra={"examples": [{
        "name": "fravaersradar", "version": "3", "trained_at": "2025-02-28T21:04:11+00:00",
        "train_window": "2022-09-05..2024-01-29", "registered_at": "2025-02-28T21:04:09Z",
        "loaded_at": "2025-03-01T06:00:00Z", "metrics": {"model.roc_auc": 0.87,
                                                          "calibration.ece": 0.012},
        "gates": "beats the best rule (rule:days_4_last_month) 1.42x (gate 1.10x)",
        "card": "/v1/model/card", "card_markdown": "/v1/model/card?format=markdown",
        "card_complete": True, "contact": "the municipality's data protection officer"}]})

    name: str
    version: str
    trained_at: str | None = None
    train_window: str | None = None
    registered_at: datetime | None = None
    loaded_at: datetime
    metrics: dict[str, float]
    gates: str | None = None
    card: str = Field(description="path of the model card (HTML)")
    card_markdown: str | None = Field(None, description="path of the model card as Markdown")
    card_complete: bool | None = Field(
        None, description="false for a version registered without the card's logged evaluation "
        "(its card then shows the registry's metrics only)")
    contact: str | None = Field(None, description="whom parents and staff contact about the model")


class ModelRefresh(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "swapped": True, "model_version": "4", "registry_reachable": True, "problem": None}]})

    swapped: bool
    model_version: str | None
    registry_reachable: bool | None
    problem: str | None = None


class TokenInfo(BaseModel):
    """A token's record; never its secret or hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "name": "team-S01", "role": "team", "school_id": "S01",
        "created_at": "2025-02-01T09:00:00Z", "revoked_at": None}]})

    id: int
    name: str
    role: Literal[ROLES]  # type: ignore[valid-type]
    school_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "team", "school_id": "S01", "name": "team-S01"}]})

    role: Literal[ROLES]  # type: ignore[valid-type]
    school_id: SchoolIdText | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=64)
    expires_in_days: int | None = Field(None, ge=1, le=3650,
                                        description="valid for this many days (default: until "
                                                    "revoked)")


class TokenCreated(BaseModel):
    """The new token; the secret is shown this once."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "name": "team-S01", "role": "team", "school_id": "S01",
        "token": "ews_3q2-6x0bN1m4cF0fE2pY5xg8H8wq4Vd0Qy7Jm1tK9aI"}]})

    id: int
    name: str
    role: str
    school_id: str | None
    token: str
    expires_at: datetime | None = None


Problem.model_rebuild()
