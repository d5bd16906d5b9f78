"""Small inline SVG charts for the pages: a sparkline, the school year's register as a calendar
heat map, and the weekly risk with concerns on its timeline.

Every chart is an `<svg role="img">` with a title and a description, and every mark has a
`<title>` (what a mouse or screen reader gets); colour is never the only carrier: the heat map
hatches partial days and the pages show a legend and a table beside each chart. No script, no
external resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from serving.pages.texts import MONTHS, STATUS_WORDS, WEEKDAYS, day, percent, risk_percent

# Fill per register status; contrast >= 3:1 against white for the marks that carry meaning
# (WCAG 1.4.11), present days light so that absence stands out.
STATUS_FILL = {"present": "#d5e3ea", "illness": "#1f5fa8", "authorised": "#7a4fb0",
               "unauthorised": "#b3261e", "none": "#ffffff"}
STATUS_ORDER = ("present", "illness", "authorised", "unauthorised")
BAND_LINES = ((0.10, "watch"), (0.25, "raised"), (0.50, "high"))


def _svg(width: int, height: int, title: str, desc: str, body: str, css_class: str,
         align: str | None = None) -> Markup:
    aspect = f' preserveAspectRatio="{align} meet"' if align else ""
    return Markup(
        f'<svg class="{css_class}" role="img" viewBox="0 0 {width} {height}"{aspect} width="{width}" '
        f'height="{height}" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{body}</svg>")


def sparkline(values: Sequence[float | None], label: str, width: int = 84,
              height: int = 22, gap_title: str = "") -> Markup:
    """A line of weekly absence shares (0-1, None for a week without school days), scaled to at
    least 0-50 % so that a small wobble does not look like a crisis. A week without school days
    (a holiday) is a grey box with a dotted edge where the line pauses, titled `gap_title`."""
    top = max([0.5] + [v for v in values if v is not None])
    n = len(values)
    if n == 0:
        return _svg(width, height, label, label, "", "sparkline")
    step = (width - 4) / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 2 + i * step, height - 2 - (height - 4) * v / top

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(xy(i, v))
    if current:
        segments.append(current)
    body = f'<line x1="2" y1="{height - 2}" x2="{width - 2}" y2="{height - 2}" class="axis"/>'
    box = max(min(step * 0.7, 8.0), 3.0)
    for i, v in enumerate(values):
        if v is None:
            x = 2 + i * step
            body += (f'<rect x="{x - box / 2:.1f}" y="2" width="{box:.1f}" height="{height - 4}" '
                     f'class="gap"><title>{escape(gap_title)}</title></rect>')
    for seg in segments:
        if len(seg) == 1:
            body += f'<circle cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="1.6" class="dot"/>'
        else:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            body += f'<polyline points="{pts}" class="line"/>'
    last = next(((i, v) for i, v in reversed(list(enumerate(values))) if v is not None), None)
    if last is not None:
        x, y = xy(*last)
        body += f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" class="end"/>'
    return _svg(width, height, label, label, body, "sparkline")


@dataclass(frozen=True)
class RegisterDay:
    """One school day of a pupil's register: its status and the absent fraction (0-1)."""

    day: date
    status: str  # present | illness | authorised | unauthorised | none
    absent: float

    @property
    def partial(self) -> bool:
        return self.status in ("illness", "authorised", "unauthorised") and 0 < self.absent < 1


def calendar_heatmap(days: Sequence[RegisterDay], language: str, title: str, desc: str,
                     cell: int = 14, gap: int = 3) -> Markup:
    """The school year as weeks (columns) x weekdays (rows), one square per school day,
    coloured by status, partial days hatched; month names above."""
    if not days:
        return _svg(200, 40, title, desc, "", "heatmap")
    words = STATUS_WORDS[language]
    first = days[0].day - timedelta(days=days[0].day.weekday())
    weeks = (days[-1].day - first).days // 7 + 1
    left, top = 34, 18
    width = left + weeks * (cell + gap) + 4
    height = top + 5 * (cell + gap) + 4
    body = ['<defs>']
    for status in ("illness", "authorised", "unauthorised"):
        body.append(
            f'<pattern id="partial-{status}" width="5" height="5" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="5" height="5" fill="#ffffff"/>'
            f'<rect width="2.5" height="5" fill="{STATUS_FILL[status]}"/></pattern>')
    body.append("</defs>")
    for row, name in enumerate(WEEKDAYS[language]):
        y = top + row * (cell + gap) + cell - 3
        body.append(f'<text x="0" y="{y}" class="label">{escape(name)}</text>')
    month_seen = set()
    for d in days:
        col = (d.day - first).days // 7
        row = d.day.weekday()
        if row > 4:
            continue
        x, y = left + col * (cell + gap), top + row * (cell + gap)
        key = (d.day.year, d.day.month)
        if key not in month_seen:
            month_seen.add(key)
            body.append(f'<text x="{x}" y="11" class="label">'
                        f'{escape(MONTHS[language][d.day.month - 1])}</text>')
        fill = f"url(#partial-{d.status})" if d.partial else STATUS_FILL.get(d.status, "#fff")
        what = words["partial"] + f" ({words[d.status].lower()}, {percent(d.absent, language)})" \
            if d.partial else words.get(d.status, d.status)
        body.append(
            f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" rx="2" fill="{fill}" '
            f'class="day day-{d.status}{" partial" if d.partial else ""}" '
            f'data-date="{d.day.isoformat()}"><title>{escape(day(d.day, language))}: '
            f"{escape(what)}</title></rect>")
    # Drawn from the left: on a wide screen the page lets it grow up to a height (pages.css).
    return _svg(width, height, title, desc, "".join(body), "heatmap", align="xMinYMin")


def risk_line(weeks: Sequence[dict], concerns: Sequence[tuple[date, str]], language: str,
              title: str, desc: str, band_words: dict[str, str], width: int = 900,
              height: int = 230) -> Markup:
    """Weekly risk (each week's `as_of` and `risk`, None where not scored) as a line over the
    school year, the band thresholds as labelled lines and concerns as triangles at their date."""
    left, right, top, bottom = 44, 150, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    scored = [(w["as_of"], w["risk"]) for w in weeks if w.get("risk") is not None]
    dates = [w["as_of"] for w in weeks] + [d for d, _ in concerns]
    if not dates:
        return _svg(width, height, title, desc, "", "riskline")
    lo, hi = min(dates), max(dates)
    span = max((hi - lo).days, 1)
    top_risk = 1.0 if any(r > 0.6 for _, r in scored) else 0.6

    def x_of(d: date) -> float:
        return left + plot_w * (d - lo).days / span

    def y_of(r: float) -> float:
        return top + plot_h * (1 - r / top_risk)

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    for r in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        if r <= top_risk:
            body.append(f'<text x="{left - 6}" y="{y_of(r) + 4:.1f}" class="label" '
                        f'text-anchor="end">{escape(percent(r, language))}</text>')
    for cut, band in BAND_LINES:
        if cut <= top_risk:
            y = y_of(cut)
            body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                        f'class="band-line band-line-{band}"/>')
            body.append(f'<text x="{left + plot_w + 6}" y="{y + 4:.1f}" class="label">'
                        f'{escape(band_words[band])} {escape(percent(cut, language))}</text>')
    seen_month = set()
    for w in weeks:
        d = w["as_of"]
        if (d.year, d.month) not in seen_month:
            seen_month.add((d.year, d.month))
            body.append(f'<text x="{x_of(d):.1f}" y="{height - 8}" class="label">'
                        f'{escape(MONTHS[language][d.month - 1])}</text>')
    if len(scored) > 1:
        pts = " ".join(f"{x_of(d):.1f},{y_of(r):.1f}" for d, r in scored)
        body.append(f'<polyline points="{pts}" class="line"/>')
    for d, r in scored:
        body.append(f'<circle cx="{x_of(d):.1f}" cy="{y_of(r):.1f}" r="3" class="point">'
                    f"<title>{escape(day(d, language))}: {escape(risk_percent(r, language))}"
                    f"</title></circle>")
    base = top + plot_h
    for d, text in concerns:
        x = x_of(d)
        body.append(f'<path d="M{x:.1f},{base - 12:.1f} l6,10 h-12 z" class="concern">'
                    f"<title>{escape(day(d, language))}: {escape(text)}</title></path>")
    return _svg(width, height, title, desc, "".join(body), "riskline")


def kpi_line(points: Sequence[tuple[str, float | None]],
             reference: Sequence[tuple[str, float | None]], *, title: str, desc: str,
             value_text, reference_label: str, width: int = 560, height: int = 210) -> Markup:
    """One KPI over the quarters (label, value; None where suppressed or absent) as a line with
    a point per quarter, and the target (or baseline) per quarter as a dashed line with its
    label. `value_text` formats a value for the axis and the marks' titles."""
    left, right, top, bottom = 52, 30, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    labels = [p for p, _ in points]
    values = [v for _, v in points if v is not None] + [v for _, v in reference if v is not None]
    if not labels:
        return _svg(width, height, title, desc, "", "kpiline")
    top_value = max(values + [1e-9]) * 1.15
    step = plot_w / max(len(labels) - 1, 1)

    def x_of(i: int) -> float:
        return left + (i * step if len(labels) > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / top_value)

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    for k in range(5):
        v = top_value * k / 4
        body.append(f'<text x="{left - 6}" y="{y_of(v) + 4:.1f}" class="label" '
                    f'text-anchor="end">{escape(value_text(v))}</text>')
    for i, label in enumerate(labels):
        body.append(f'<text x="{x_of(i):.1f}" y="{height - 22}" class="label" '
                    f'text-anchor="middle">{escape(label)}</text>')

    def path(series: Sequence[tuple[str, float | None]], css: str) -> None:
        where = {p: v for p, v in series}
        segment: list[str] = []
        for i, label in enumerate(labels):
            v = where.get(label)
            if v is None:
                if len(segment) > 1:
                    body.append(f'<polyline points="{" ".join(segment)}" class="{css}"/>')
                segment = []
            else:
                segment.append(f"{x_of(i):.1f},{y_of(v):.1f}")
        if len(segment) > 1:
            body.append(f'<polyline points="{" ".join(segment)}" class="{css}"/>')

    path(reference, "target")
    path(points, "line")
    for i, (label, v) in enumerate(points):
        if v is not None:
            body.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3.2" class="point">'
                        f"<title>{escape(label)}: {escape(value_text(v))}</title></circle>")
    for i, label in enumerate(labels):
        v = dict(reference).get(label)
        if v is not None:
            body.append(f'<rect x="{x_of(i) - 4:.1f}" y="{y_of(v) - 1.5:.1f}" width="8" '
                        f'height="3" class="target-mark"><title>{escape(label)}: '
                        f"{escape(reference_label)} {escape(value_text(v))}</title></rect>")
    body.append(f'<line x1="{left}" y1="{height - 7}" x2="{left + 22}" y2="{height - 7}" '
                f'class="target"/><text x="{left + 28}" y="{height - 3}" class="label">'
                f"{escape(reference_label)}</text>")
    return _svg(width, height, title, desc, "".join(body), "kpiline")
