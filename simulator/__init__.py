"""The simulator: a seeded, realistic demo municipality to develop, test and benchmark against.

Not part of the product (`model/` is what the system knows in production): `ews demo-data`,
the tests and the benchmarks generate municipalities with it.

The model will learn from this data, so it is not i.i.d. noise but a small latent-risk
simulation whose marginal figures match the public Danish statistics in domain.md (mean absence
about 7 %, a fifth of the pupils over 10 % a year, absence rising with grade, illness peaking in
winter, leave clustering at the breaks, strong persistence) and whose *signal* looks like what
detection teams describe: a minority of pupils whose absence escalates over weeks after early
signs (Monday/Friday and post-holiday absence, short spells, late arrivals, the same weekday,
teacher concerns), next to confounders that look alarming but do not escalate (chronic illness
with regular appointments, flu waves, family trips, shared custody).

The stages, each in a module of this package, run in this order:

1. calendar      - school days, breaks, the illness season and the winter's flu waves
2. population    - schools, pupils, one enrolment per pupil and school year, classes
3. latent risk   - each pupil's propensities and kind (escalating, chronic illness, custody)
4. daily absence - the register, generated per chunk of pupils (vectorised, bounded memory)
5. concerns      - coded teacher/parent/health concerns, mostly around escalations
6. wellbeing     - the class means of the national wellbeing survey

Every stage draws from its own random stream derived from the seed (and the daily stage from
one stream per chunk of pupils), so the same arguments always give the same files.
`simulate_municipality` also returns the ground truth (who escalates, when) for evaluation.
"""

from simulator.calendar import DemoCalendar, build_calendar, demo_school_years
from simulator.concerns import build_class_wellbeing, build_concerns
from simulator.latent import LatentRisk, build_latent_risk
from simulator.municipality import (
    DemoMunicipality,
    generate_demo,
    simulate_municipality,
    static_tables,
    write_demo_municipality,
)
from simulator.parameters import CHRONIC, CUSTODY, ESCALATING, KIND_NAMES, NONE, STATUS_NAMES
from simulator.population import Population, build_population
from simulator.register import (
    DemoOptions,
    DemoPlan,
    RegisterChunk,
    daily_register,
    escalation_intensity,
    iter_attendance_chunks,
    iter_register,
    plan_demo,
)
from simulator.truth import TRUTH_DIR, expected_daily_absence, latent_truth, write_latent_truth

__all__ = [
    "CHRONIC", "CUSTODY", "ESCALATING", "KIND_NAMES", "NONE", "STATUS_NAMES", "TRUTH_DIR",
    "DemoCalendar", "DemoMunicipality", "DemoOptions", "DemoPlan", "LatentRisk", "Population",
    "RegisterChunk",
    "build_calendar", "build_class_wellbeing", "build_concerns", "build_latent_risk",
    "build_population", "daily_register", "demo_school_years", "escalation_intensity",
    "expected_daily_absence", "generate_demo", "iter_attendance_chunks", "iter_register",
    "latent_truth", "plan_demo", "simulate_municipality", "static_tables",
    "write_demo_municipality", "write_latent_truth",
]
