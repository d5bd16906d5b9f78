"""The simulator's parameters: names of codes and kinds, and the base rates tuned to domain.md."""

from __future__ import annotations

import numpy as np

RNG_BLOCK = 1024  # pupils per random stream of the daily stage (fixed: part of the output)
PUPIL_CHUNK = 4096  # pupils per attendance chunk when streaming (any value: same output)

STATUS_NAMES = np.array(["", "present", "illness", "authorised", "unauthorised"], dtype=object)
PRESENT, ILLNESS, AUTHORISED, UNAUTHORISED = 1, 2, 3, 4

KIND_NAMES = np.array(["none", "escalating", "chronic_illness", "shared_custody"], dtype=object)
NONE, ESCALATING, CHRONIC, CUSTODY = 0, 1, 2, 3

SCHOOL_NAMES = [
    *("Nordskolen", "Sydskolen", "Østskolen", "Vestskolen", "Bakkeskolen", "Engskolen"),
    *("Skovskolen", "Søskolen", "Åskolen", "Midtbyskolen", "Kildeskolen", "Strandskolen"),
    *("Højvangskolen", "Lindeskolen", "Egeskolen", "Møllevangskolen", "Rosenhøjskolen"),
    *("Fjordskolen", "Parkskolen", "Toftevangskolen"),
]

# Illness by calendar month (Aug..Jun): a winter peak on top of which the flu waves come.
MONTHS = (8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7)
ILLNESS_BY_MONTH = dict(
    zip(MONTHS, (0.75, 0.85, 0.92, 1.0, 1.2, 1.3, 1.3, 1.12, 0.9, 0.8, 0.75, 0.75), strict=True)
)
# Hazard multipliers by grade 0..10. Illness is flat; unauthorised absence rises steeply in 7-9.
ILLNESS_BY_GRADE = np.array([1.05, 1.05, 1.0, 1.0, 0.97, 0.97, 0.97, 1.0, 1.0, 1.0, 1.0])
UNAUTHORISED_BY_GRADE = np.array([0.45, 0.45, 0.5, 0.55, 0.75, 0.9, 1.1, 1.7, 2.1, 2.4, 2.2])
# Relative onset rate of escalations by grade: rare in the youngest, most around grades 6-8.
ESCALATION_BY_GRADE = np.array([0.15, 0.25, 0.4, 0.5, 0.7, 0.9, 1.7, 2.1, 1.8, 1.1, 0.8])

# Base daily hazards (before the pupil's multipliers), tuned to domain.md's figures.
ILLNESS_START = 0.022  # an illness spell starts
ILLNESS_SPELL = 1.35  # mean length of an illness spell (geometric, school days)
UNAUTHORISED_DAY = 0.0025  # a single unauthorised day
AUTHORISED_DAY = 0.0145  # a single day of authorised leave (family event, long weekend)
LATE_ARRIVAL = 0.006  # a partial day (late arrival, lessons missed)
TRIPS_PER_YEAR = 0.2  # family trips of 3-5 days next to a break

# The mix of pupils.
HIGH_ABSENCE_SHARE = 0.17  # persistently high absence (child or family); never escalates
HIGH_ILLNESS = 1.6  # the high group's hazards; the bulk has illness 0.7, unauthorised 0.55
HIGH_UNAUTHORISED = 2.0
HIGH_PARTIAL = 10.0  # the high group's partial days, relative to the bulk
HIGH_SPREAD = 0.45  # the high group's spread of propensities, relative to the bulk
ESCALATIONS_PER_YEAR = 0.045  # onsets per enrolled pupil and school year (~9 % in 3 years)
CHRONIC_SHARE = 0.022  # chronic illness with regular appointments (more with special needs)
CUSTODY_SHARE = 0.02  # shared custody, every other week
FLU_HEIGHT = (0.5, 1.1)  # extra illness at a flu wave's peak, relative to the season
MISSING_CLASS_DAY = 0.0012  # a teacher does not register a whole class that day
MISSING_PUPIL_DAY = 0.0008  # a single pupil's entry is missing
