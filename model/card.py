"""The model card of a registered version (domain.md, transparency), as Markdown and HTML.

`card_blocks` turns a version's logged evaluation (the dict `training.card.card_evaluation` logs as
`model_card/evaluation.json`) into a list of blocks; `render_markdown` and `render_html` write
them out, so both formats say the same thing. The first half is for parents and staff, Danish
first and English after; the second half holds the figures for analysts. A version registered
without the logged evaluation gets a shorter card from the registry's metrics and tags.
Aggregates only: a card never holds a pupil's id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from model.feature_registry import EXCLUDED_BY_DESIGN, FEATURES
from model.rules import ALARM_RULES

CARD_SCHEMA = 1
FAIRNESS_BAND = (0.8, 1.25)
DIRECTION = {1: "+", -1: "-", 0: "±"}

# What the feature groups are about, in words a parent knows.
GROUP_WORDS = {
    "absence": ("fravær (sygdom, ekstraordinær frihed, ulovligt) de seneste uger, i skoleåret og "
                "sidste skoleår, og om det stiger",
                "absence (illness, authorised leave, unauthorised) in recent weeks, this school "
                "year and last year, and whether it is rising"),
    "patterns": ("mønstre i fraværet: mandage og fredage, dagen efter ferier, samme ugedag, "
                 "sammenhængende fravær og for sent fremmøde",
                 "patterns in the absence: Mondays and Fridays, the day after breaks, the same "
                 "weekday, runs of absence and late arrivals"),
    "statutory": ("ulovligt fravær i kvartalet (det tal lovkravet om 10 % og 15 % bruger)",
                  "unauthorised absence this quarter (the figure the statutory 10 %/15 % rule uses)"),
    "concerns": ("bekymringer skolen har registreret som koder (fx trivsel eller mobning), aldrig "
                 "som fritekst", "concerns the school has recorded as codes (e.g. wellbeing or "
                 "bullying), never as free text"),
    "class_wellbeing": ("klassens trivsel fra trivselsmålingen, kun som gennemsnit for klassen",
                        "the class's wellbeing from the national survey, only as the class mean"),
    "school": ("klassetrin, specialpædagogisk bistand og skoleskift",
               "grade, special educational support and a change of school"),
    "context": ("klassekammeraternes og skolens fravær som sammenligning",
                "classmates' and the school's absence, for comparison"),
}
GROUP_OF = {"trend": "absence", "total_year": "absence", "long_term": "absence", "last_year": "absence",
            "monday_friday": "patterns", "after_break": "patterns", "same_weekday": "patterns",
            "spread": "patterns", "spells": "patterns", "partial_days": "patterns",
            "statutory": "statutory", "concerns": "concerns", "class_wellbeing": "class_wellbeing",
            "grade": "school", "special_needs": "school", "school_change": "school",
            "context": "context"}
EXCLUDED_DA = {"ethnicity": "etnicitet", "parental education": "forældrenes uddannelse",
               "income": "indkomst", "social-services data": "oplysninger fra socialforvaltningen",
               "individual wellbeing answers": "den enkelte elevs svar i trivselsmålingen",
               "free-text notes": "fritekstnotater", "gender": "køn (bruges kun til at tjekke, at "
               "listen er retfærdig)"}
GROUPING_WORDS = {"gender": ("køn", "gender"), "grade_band": ("klassetrin (0-3, 4-6, 7-10)",
                                                              "grade band (0-3, 4-6, 7-10)"),
                  "school_id": ("skole", "school"), "special_needs": ("specialpædagogisk bistand",
                                                                      "special needs")}
DECISION_WORDS = {"investigate": "investigate (acted on)", "already_known": "already known",
                  "no_action": "no action", "other": "other"}


@dataclass
class Block:
    """One piece of the card: a heading (h1-h3), a paragraph, a list or a table."""

    kind: str
    text: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    anchor: str = ""


def _pct(x: float | None, decimals: int = 0, lang: int = 1) -> str:
    """A share as a percentage; Danish (lang 0) writes a decimal comma."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    text = f"{x * 100:.{decimals}f} %"
    return text.replace(".", ",") if lang == 0 else text


def _weeks(x: float | None, lang: int) -> str:
    """'1 uge', '2 uger' / '1 week', '0 weeks'."""
    if x is None or math.isnan(x):
        return "–"
    one = x == 1
    return f"{x:g} " + (("uge" if one else "uger") if lang == 0 else ("week" if one else "weeks"))


def _span(split_text: str) -> str:
    """'2026-03-23..2026-08-24 (16 as-of dates)' -> '2026-03-23 – 2026-08-24'."""
    return split_text.split(" (")[0].replace("..", " – ")


def _num(x, decimals: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{decimals}f}"


def _rule_words(evaluation: dict) -> dict[str, tuple[str, str]]:
    words = {f"rule:{r.name}": (r.da, r.en) for r in ALARM_RULES}
    words.update({k: (v["da"], v["en"]) for k, v in evaluation.get("rules", {}).items()})
    words.update({"model": ("modellen", "the model"),
                  "logistic_baseline": ("logistisk regression (sammenligning)",
                                        "logistic regression baseline")})
    return words


def _outside_band(evaluation: dict) -> list[str]:
    """Groupings whose selection-rate, precision or recall ratio lies outside the 0.8-1.25 band."""
    out = []
    for grouping in GROUPING_WORDS:
        ratios = [evaluation.get("fairness_ratios", {}).get(f"{grouping}.{m}_ratio")
                  for m in ("selection_rate", "precision", "recall")]
        if any(r is not None and not math.isnan(r) and not FAIRNESS_BAND[0] <= r <= FAIRNESS_BAND[1]
               for r in ratios):
            out.append(grouping)
    return out


def _features(evaluation: dict) -> list[dict]:
    """The version's features as logged at training (the registry's, for an older version)."""
    logged = evaluation.get("features")
    if logged:
        return logged
    return [{"name": f.name, "group": f.group, "unit": f.unit, "direction": f.direction,
             "da": f.da, "en": f.en} for f in FEATURES]


def _used_groups(features: list[dict]) -> list[str]:
    groups = []
    for f in features:
        key = GROUP_OF.get(f["group"], "absence" if f["group"].endswith("_recent") else f["group"])
        if key not in groups:
            groups.append(key)
    return groups


def _group_words(key: str, features: list[dict], lang: int) -> str:
    if key in GROUP_WORDS:
        return GROUP_WORDS[key][lang]
    first = next(f for f in features if f["group"] == key)
    return first["da" if lang == 0 else "en"]


def _plain_part(lang: int, name: str, version: str, evaluation: dict, contact: str) -> list[Block]:
    """The part a parent reads: Danish (lang 0) or English (lang 1)."""
    da = lang == 0
    label = evaluation.get("label", {})
    threshold, horizon = label.get("threshold", 0.15), label.get("horizon", 60)
    capacity = evaluation.get("capacity", {})
    features = _features(evaluation)

    def t(d: str, e: str) -> str:
        return d if da else e

    blocks = [Block("h2", t("Dansk: kort fortalt", "English: in short"), anchor=t("dansk", "english")),
              Block("h3", t("Hvad er Fraværsradar?", "What is Fraværsradar?")),
              Block("p", t(
                  f"Fraværsradar hjælper skolens opsporingsteam (skoleleder, socialrådgiver eller "
                  f"PPR-psykolog og en lærer) med at få øje på elever, hvis fravær kan blive "
                  f"bekymrende – mindst {_pct(threshold)} af skoledagene over de næste {horizon} "
                  f"skoledage – tidligere end de alarmlister, skolerne bruger i dag. Hver uge får "
                  f"teamet en kort liste for sin skole (omkring {_pct(capacity.get('share', 0.05))} "
                  f"af eleverne) med begrundelser for hver elev.",
                  f"Fraværsradar helps a school's detection team (a school leader, the social worker "
                  f"or PPR psychologist, and a teacher) notice pupils whose absence may become "
                  f"concerning – at least {_pct(threshold)} of school days over the next {horizon} "
                  f"school days – earlier than the alarm lists schools use today. Every week the team "
                  f"gets a short list for its school (about {_pct(capacity.get('share', 0.05))} of "
                  f"the pupils) with the reasons for each pupil.")),
              Block("h3", t("Hvad det må bruges til – og hvad ikke",
                            "What it may be used for – and what not")),
              Block("ul", items=[
                  t("Beslutningsstøtte for opsporingsteamet: listen er et forslag om, hvem teamet "
                    "bør tale om.", "Decision support for the detection team: the list suggests whom "
                    "the team should talk about."),
                  t("Aldrig automatiske afgørelser: en markering udløser ikke noget i sig selv. Et "
                    "menneske beslutter, sammen med familien, og beslutningen registreres "
                    "(databeskyttelsesforordningen artikel 22).",
                    "Never automated decisions: a flag triggers nothing by itself. A person decides, "
                    "together with the family, and the decision is recorded (GDPR article 22)."),
                  t("Aldrig til sanktioner – fx at standse børne- og ungeydelsen. Lovkravet om 10 % og "
                    "15 % ulovligt fravær i et kvartal er en regel, ikke en forudsigelse, og vises for "
                    "sig.", "Never for sanctions – e.g. stopping the child benefit. The statutory "
                    "10 %/15 % unauthorised-absence rule per quarter is a rule, not a prediction, and "
                    "is shown apart."),
                  t("Kun dem, der har brug for det, ser eleverne: en skole ser kun sine egne elever, "
                    "og hvert opslag skrives i en log.", "Only those who need to see pupils do: a "
                    "school sees only its own pupils, and every look-up is written to a log."),
              ]),
              Block("h3", t("Hvilke oplysninger bruger det?", "What information does it use?")),
              Block("p", t("Kun hvad skolen allerede registrerer:",
                           "Only what the school already registers:")),
              Block("ul", items=[_group_words(g, features, lang) for g in _used_groups(features)]),
              Block("h3", t("Hvad bruger det aldrig?", "What does it never use?")),
              Block("p", t(
                  "CPR-numre og navne gemmes aldrig; eleverne kendes kun under et pseudonym. "
                  "Modellen bruger aldrig: " + ", ".join(EXCLUDED_DA.get(x, x) for x in EXCLUDED_BY_DESIGN)
                  + ".",
                  "CPR numbers and names are never stored; pupils are known only by a pseudonym. The "
                  "model never reads: " + ", ".join(x if x != "gender" else "gender (used only to "
                                                    "check that the list is fair)"
                                                    for x in EXCLUDED_BY_DESIGN) + ".")),
              Block("h3", t("Hvor godt virker det?", "How well does it work?"))]
    blocks += _plain_quality(lang, evaluation)
    blocks += [Block("h3", t("Er listen retfærdig?", "Is the list fair?"))]
    blocks += _plain_fairness(lang, evaluation)
    blocks += [Block("h3", t("Kontakt", "Contact")),
               Block("p", t(f"Spørgsmål om Fraværsradar, om hvilke oplysninger der bruges, eller om at "
                            f"få indsigt eller slettet oplysninger: kontakt {contact}.",
                            f"Questions about Fraværsradar, the information it uses, or access to or "
                            f"erasure of data: contact {contact}."))]
    return blocks


def _plain_quality(lang: int, evaluation: dict) -> list[Block]:
    da = lang == 0

    def t(d: str, e: str) -> str:
        return d if da else e

    comparison = {row["ranker"]: row for row in evaluation.get("comparison", [])}
    model, best = comparison.get("model"), comparison.get(evaluation.get("best_rule", ""))
    if not model or not best:
        return [Block("p", t("Denne version blev registreret uden en fuld evaluering; tallene "
                             "nedenfor er registrets.", "This version was registered without a full "
                             "evaluation; the figures below are the registry's."))]
    rule = _rule_words(evaluation).get(evaluation["best_rule"], (evaluation["best_rule"],) * 2)[lang]
    test = _span(evaluation.get("split", {}).get("test", ""))
    horizon = evaluation.get("label", {}).get("horizon", 60)
    calibration = evaluation.get("calibration", {})
    lead = model.get("lead_time_median_weeks")
    mean_risk = _pct(calibration.get("mean_risk"), 1, lang)
    observed = _pct(calibration.get("observed_rate"), 1, lang)
    texts = [t(
        f"Målt på senere uger end dem, modellen lærte af ({test}): af eleverne på modellens lister "
        f"fik {_pct(model['precision_at_capacity'], 0, lang)} bekymrende fravær inden for {horizon} "
        f"skoledage. "
        f"Med den bedste af de alarmlister, skolerne bruger i dag (“{rule}”), var det "
        f"{_pct(best['precision_at_capacity'], 0, lang)} ved samme listelængde.",
        f"Measured on later weeks than those the model learned from ({test}): of the pupils on the "
        f"model's lists, {_pct(model['precision_at_capacity'])} went on to concerning absence within "
        f"{horizon} school days. With the best of the alarm lists schools use today (“{rule}”) it "
        f"was {_pct(best['precision_at_capacity'])} at the same list length.")]
    if lead is not None and not math.isnan(lead):
        texts.append(t(f"Elever, der blev bekymrende, kom i median på modellens liste {_weeks(lead, 0)} "
                       f"før, end fraværet nåede grænsen; med den bedste alarmliste "
                       f"{_weeks(best.get('lead_time_median_weeks'), 0)}.",
                       f"Pupils who became concerning were on the model's list a median of "
                       f"{_weeks(lead, 1)} before their absence crossed the line; with the best alarm "
                       f"list {_weeks(best.get('lead_time_median_weeks'), 1)}."))
    if calibration:
        texts.append(t(
            f"Når modellen angiver en risiko, passer den nogenlunde: i gennemsnit "
            f"{mean_risk} forudsagt mod {observed} "
            f"faktisk.", f"When the model states a risk, it roughly holds: on average "
            f"{mean_risk} predicted against {observed} "
            f"observed."))
    texts.append(t("Listen er et hjælpemiddel: mange elever på den får ikke bekymrende fravær, og "
                   "nogle, der gør, kommer ikke på den.", "The list is an aid: many pupils on it do not "
                   "go on to concerning absence, and some who do are not on it."))
    return [Block("p", x) for x in texts]


def _plain_fairness(lang: int, evaluation: dict) -> list[Block]:
    da = lang == 0

    def t(d: str, e: str) -> str:
        return d if da else e

    if not evaluation.get("fairness_ratios"):
        return [Block("p", t("Ingen fairness-evaluering er logget for denne version.",
                             "No fairness evaluation is logged for this version."))]
    outside = _outside_band(evaluation)
    texts = [t("Vi tjekker den liste, teamet faktisk får, efter køn, klassetrin, skole og "
               "specialpædagogisk bistand: hvor ofte hver gruppe kommer på listen, og hvor ofte det "
               "passer. Forholdet mellem den laveste og højeste gruppe bør ligge mellem 0,8 og 1,25.",
               "We check the list the team actually gets by gender, grade, school and special needs: "
               "how often each group is listed, and how often that is right. The ratio between the "
               "lowest and the highest group should lie between 0.8 and 1.25.")]
    if outside:
        names = ", ".join(GROUPING_WORDS[g][lang] for g in outside)
        texts.append(t(f"Uden for det bånd for denne version: {names}. Det afspejler især, hvor "
                       f"bekymrende fravær faktisk opstår (det stiger med klassetrin og ved "
                       f"specialpædagogisk bistand), men det skal læses af teamet og analytikerne, ikke "
                       f"skjules. Tallene står nedenfor.",
                       f"Outside that band for this version: {names}. This mostly follows where "
                       f"concerning absence actually arises (it rises with grade and with special "
                       f"needs), but it is for the team and the analysts to read, not to hide. The "
                       f"figures are below."))
    else:
        texts.append(t("For denne version ligger alle grupperinger inden for båndet.",
                       "For this version every grouping lies within the band."))
    return [Block("p", x) for x in texts]


def _technical_part(name: str, version: str, evaluation: dict, registry: dict, contact: str) -> list[Block]:
    tags = registry.get("tags", {})
    label = evaluation.get("label", {})
    capacity = evaluation.get("capacity", {})
    split = evaluation.get("split", {})
    blocks = [Block("h2", "Technical details (for analysts)", anchor="technical"),
              Block("h3", "Version and training window"),
              Block("ul", items=[
                  f"Registered model {name}, version {version}"
                  + (f"; aliases: {', '.join(registry['aliases'])}" if registry.get("aliases") else ""),
                  f"Trained: {evaluation.get('trained_at') or tags.get('trained_at', 'unknown')}",
                  "Training window (as-of dates): "
                  f"{split.get('train') or tags.get('train_window', 'unknown')}",
                  *([f"Calibration (Platt, on the booster's margin): {split['calibration']}"]
                    if split.get("calibration") else []),
                  *([f"Evaluation on later as-of dates: {split['test']}"] if split.get("test") else []),
                  f"Label: total absence ≥ {_pct(label.get('threshold', 0.15))} over the next "
                  f"{label.get('horizon', 60)} school days after the as-of date; pupils at or over it "
                  f"in the {label.get('trailing', 60)} school days before are already concerning and "
                  "listed apart",
                  f"List length: {_pct(capacity.get('share', 0.05))} of each school's pupils on roll, "
                  f"at least {capacity.get('minimum', 3)}, among pupils not yet concerning",
              ])]
    blocks += _evaluation_blocks(evaluation, registry)
    blocks += _fairness_blocks(evaluation)
    blocks += _feedback_blocks(evaluation)
    gates = evaluation.get("gates", {}).get("reasons") or (
        tags["gates"].split(" | ") if tags.get("gates") else [])
    if gates:
        blocks += [Block("h3", "Promotion gates"), Block("ul", items=gates)]
    features = _features(evaluation)
    blocks += [Block("h3", "Features used"),
               Block("table", header=["feature", "dansk", "English", "unit", "raises risk"],
                     rows=[[f["name"], f["da"], f["en"], f["unit"], DIRECTION[int(f["direction"])]]
                           for f in features]),
               Block("p", "Raises risk: + the model may only raise the risk as the value grows "
                          "(a monotone constraint), - only lower it, ± learned freely."),
               Block("h3", "Deliberately excluded (data minimisation)"),
               Block("ul", items=[
                   "Ethnicity, parental education, income and social-services data: never features, "
                   "even where they correlate with absence.",
                   "Individual answers of the national wellbeing survey (ministry order, 2018): "
                   "wellbeing enters only as class means.",
                   "Free-text notes: concerns are coded (source, category, severity), never text.",
                   "Gender: not a feature; used only to audit the fairness of the list.",
                   "CPR numbers and names: replaced by a keyed pseudonym at the door, never stored.",
               ]),
               Block("h3", "Known limits"),
               Block("ul", items=_known_limits(evaluation)),
               Block("h3", "Who to contact"), Block("p", contact)]
    return blocks


def _evaluation_blocks(evaluation: dict, registry: dict) -> list[Block]:
    comparison = evaluation.get("comparison", [])
    if not comparison:
        metrics = registry.get("metrics", {})
        wanted = [k for k in sorted(metrics) if k.startswith(("model.", "calibration.", "fairness.",
                                                              "lift_over"))]
        return [Block("h3", "Measured quality and fairness (registry metrics)"),
                Block("table", header=["metric", "value"], rows=[[k, _num(metrics[k])] for k in wanted])]
    words = _rule_words(evaluation)
    best, lift = evaluation.get("best_rule", ""), evaluation.get("lift")
    rows = [[words.get(r["ranker"], (r["ranker"],) * 2)[1], _num(r.get("roc_auc")), _num(r.get("pr_auc")),
             _num(r.get("precision_at_capacity")), _num(r.get("recall_at_capacity")),
             _num(r.get("lead_time_median_weeks"), 1), _pct(r.get("detected_before_onset"))]
            for r in comparison]
    cal = evaluation.get("calibration", {})
    return [Block("h3", "Against the rules at the same list length"),
            Block("p", f"On the later as-of dates, among pupils not yet concerning. Best rule: "
                       f"{words.get(best, (best,) * 2)[1]}; lift of the model's precision at list "
                       f"length over it: {_num(lift, 2)}x. Lead time: weeks between first being listed "
                       "and becoming concerning, for pupils who became concerning."),
            Block("table", header=["ranker", "ROC AUC", "PR AUC", "precision at list length", "recall",
                                   "median lead (weeks)", "listed before onset"], rows=rows),
            Block("h3", "Calibration"),
            Block("table", header=["Brier score", "ECE (all)", "ECE (not yet concerning)", "mean risk",
                                   "observed rate"],
                  rows=[[_num(cal.get("brier")), _num(cal.get("ece")),
                         _num(cal.get("ece_not_yet_concerning")), _pct(cal.get("mean_risk"), 1),
                         _pct(cal.get("observed_rate"), 1)]])]


def _fairness_blocks(evaluation: dict) -> list[Block]:
    ratios = evaluation.get("fairness_ratios", {})
    if not ratios:
        return []
    rows = []
    for grouping, (_, en) in GROUPING_WORDS.items():
        values = [ratios.get(f"{grouping}.{m}_ratio") for m in ("selection_rate", "precision", "recall")]
        inside = all(v is None or math.isnan(v) or FAIRNESS_BAND[0] <= v <= FAIRNESS_BAND[1] for v in values)
        rows.append([en, *(_num(v, 2) for v in values), "yes" if inside else "no"])
    by_group = [[GROUPING_WORDS.get(g["grouping"], (g["grouping"],) * 2)[1], str(g["group"]),
                 _num(int(g["pupils"])) if g.get("pupils") is not None else "–", _pct(g["selection_rate"], 1),
                 _num(g["precision"]), _num(g["recall"])] for g in evaluation.get("fairness", [])]
    return [Block("h3", "Fairness of the list handed out"),
            Block("p", "Selection rate, precision and recall per group among not-yet-concerning pupils "
                       "on the later as-of dates; ratios are the lowest group's over the highest's "
                       f"(yardstick {FAIRNESS_BAND[0]}-{FAIRNESS_BAND[1]}). Pupils: evaluation rows (pupil "
                       "× as-of date)."),
            Block("table", header=["grouping", "selection-rate ratio", "precision ratio", "recall ratio",
                                   "within band"], rows=rows),
            Block("table", header=["grouping", "group", "rows", "selection rate", "precision", "recall"],
                  rows=by_group)]


def _feedback_blocks(evaluation: dict) -> list[Block]:
    uptake = evaluation.get("uptake", [])
    blocks = [Block("h3", "Feedback from the detection teams")]
    if not uptake:
        blocks.append(Block("p", "No stored lists were reviewed before this version was trained."))
    else:
        decisions = list(DECISION_WORDS)
        blocks += [Block("p", "Early-warning flags handed out before training and the team's latest "
                              "decision on each; acted on: decision “investigate”."),
                   Block("table", header=["school", "flags", "reviewed", "share reviewed",
                                          *(DECISION_WORDS[d] for d in decisions), "pupils acted on"],
                         rows=[[str(u["school_id"]), _num(int(u["flags"])), _num(int(u["reviewed"])),
                                _pct(u["share_reviewed"]), *(_num(int(u.get(d, 0))) for d in decisions),
                                f"{int(u['pupils_acted_on'])} of {int(u['pupils_listed'])}"]
                               for u in uptake])]
    mode, iv = evaluation.get("intervention_labels"), evaluation.get("interventions", {})
    if mode == "exclude":
        blocks.append(Block("p", f"Pupils under an active intervention (an “investigate” decision within "
                                 f"the label horizon before the as-of date) were excluded from the "
                                 f"evaluation: {int(iv.get('rows_excluded', 0))} rows."))
    elif mode == "mark":
        text = (f"Pupils under an active intervention (an “investigate” decision within the label horizon "
                f"before the as-of date) stay in the evaluation and are marked: "
                f"{int(iv.get('rows_marked', 0))} rows of {int(iv.get('pupils_marked', 0))} pupils, "
                f"{int(iv.get('marked_listed', 0))} of them listed by the model")
        if "precision_at_capacity_without_marked" in iv:
            clean = _num(iv["precision_at_capacity_without_marked"])
            text += f"; precision at list length without them {clean}"
        blocks.append(Block("p", text + "."))
    elif mode == "ignore":
        blocks.append(Block("p", "The teams' decisions were not used to mark or exclude pupils under an "
                                 "intervention (EWS_INTERVENTION_LABELS=ignore)."))
    return blocks


def _known_limits(evaluation: dict) -> list[str]:
    limits = [
        "It learns from this municipality's own past register: a change in how absence is "
        "registered (a new school system, a school that stops registering illness) changes what it "
        "sees; retrain, and watch the monitoring.",
        "It sees absence, not its causes: the reasons name patterns in the register, not why a "
        "child stays away. The team and the family find the why.",
        "Pupils with little history (new in the municipality, the first weeks of grade 0) get "
        "scores from few data.",
        "Quality is measured on later weeks of the same municipality; it is an estimate of the "
        "coming weeks, not a guarantee.",
        "When a team acts on a flag, the pupil's later absence is no longer a clean outcome; such "
        "rows are marked or excluded in the evaluation (see the feedback section).",
    ]
    outside = _outside_band(evaluation)
    if outside:
        limits.append("Disparities outside the 0.8-1.25 band for: "
                      + ", ".join(GROUPING_WORDS[g][1] for g in outside) + " (see fairness).")
    return limits


def card_blocks(name: str, version: str, evaluation: dict | None, registry: dict | None = None,
                contact: str = "the municipality") -> list[Block]:
    """The card of one version as blocks: plain Danish, plain English, then technical details."""
    evaluation, registry = evaluation or {}, registry or {}
    return [Block("h1", f"Modelkort · Model card: {name} version {version}"),
            Block("nav", items=["dansk|Dansk", "english|English", "technical|Technical details"]),
            *_plain_part(0, name, version, evaluation, contact),
            *_plain_part(1, name, version, evaluation, contact),
            *_technical_part(name, version, evaluation, registry, contact)]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(b.kind[1])} {b.text}")
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "ul":
            out.append("\n".join(f"- {item}" for item in b.items))
        elif b.kind == "nav":
            out.append(" · ".join(f"[{i.split('|')[1]}](#{i.split('|')[0]})" for i in b.items))
        elif b.kind == "table":
            lines = ["| " + " | ".join(_md_cell(h) for h in b.header) + " |",
                     "|" + "|".join("---" for _ in b.header) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


STYLE = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:58em;margin:2em auto;
padding:0 1em;line-height:1.5;color:#1a1a1a}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid
#2a6f97;padding-bottom:.2em}h3{margin-top:1.4em;color:#2a6f97}nav a{margin-right:1em}table{border-collapse:
collapse;font-size:.9em;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f3f6f8}"""


def render_html(blocks: list[Block], title: str, lang: str = "da") -> str:
    """The blocks as one self-contained HTML page."""
    body: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            anchor = f' id="{escape(b.anchor)}"' if b.anchor else ""
            body.append(f"<{b.kind}{anchor}>{escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{escape(b.text)}</p>")
        elif b.kind == "ul":
            body.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "nav":
            links = (i.split("|") for i in b.items)
            body.append("<nav>" + "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in links)
                        + "</nav>")
        elif b.kind == "table":
            head = "".join(f"<th>{escape(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def model_card(name: str, version: str, evaluation: dict | None, registry: dict | None = None,
               contact: str = "the municipality") -> tuple[str, str]:
    """(Markdown, HTML) of the card of one version."""
    blocks = card_blocks(name, version, evaluation, registry, contact)
    return render_markdown(blocks), render_html(blocks, f"Model card: {name} version {version}")
