"""Rules between rows and tables: references and the order of dates along the pathway.

They run on the *effective* registry — rows already in the database for the patients in the bundle,
overlaid by the bundle's rows — and report problems on the bundle's rows only, since those are what the
user can fix.
"""

from __future__ import annotations

import operator

import pandas as pd

from openhsct.registry.validation import ROW, Collector

PATIENT = ["centre_code", "patient_code"]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_WORDS = {"<": "before", "<=": "on or before", ">": "after", ">=": "on or after"}


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.where(s != "", None), format="%Y-%m-%d", errors="coerce")


def check_references(eff: dict[str, pd.DataFrame], out: Collector) -> None:
    """Every row's centre, patient and parent record exist (in the bundle or the database)."""
    centres = set(eff["centres"]["centre_code"])
    pats = eff["patients"]
    out.flag(pats, ~pats["centre_code"].isin(centres), "patients.csv", "centre_code",
             "no such centre in centres.csv or the registry")
    known = pd.MultiIndex.from_frame(pats[PATIENT])
    for name, frame in eff.items():
        if name in {"centres", "patients"} or frame.empty:
            continue
        here = pd.MultiIndex.from_frame(frame[PATIENT])
        out.flag(frame, ~here.isin(known), f"{name}.csv", "patient_code",
                 "no such patient (centre_code, patient_code) in patients.csv or the registry")
    for child, col, parent in (("apheresis", "mobilisation_id", "mobilisations"),
                               ("cell_products", "collection_id", "apheresis"),
                               ("custody_events", "bag_id", "cell_products")):
        frame = eff[child]
        if frame.empty:
            continue
        keys = pd.MultiIndex.from_frame(eff[parent][[*PATIENT, col]])
        here = pd.MultiIndex.from_frame(frame[[*PATIENT, col]])
        out.flag(frame, ~here.isin(keys), f"{child}.csv", col, f"no such {col} for this patient in {parent}.csv")


def compare(out: Collector, left: pd.DataFrame, lcol: str, op: str, right: pd.DataFrame, rcol: str,
            *, on: list[str], file: str, rule: str | None = None, report_col: str | None = None) -> None:
    """Require ``left[lcol] op right[rcol]`` for rows matched on ``on``; report on bundle rows.

    Missing dates on either side are not compared (they are checked as missing elsewhere).
    """
    if left.empty or right.empty:
        return
    lf = left[[*on, lcol, ROW]].rename(columns={ROW: "_lrow", lcol: "_l"})
    rf = right[[*on, rcol, ROW]].rename(columns={ROW: "_rrow", rcol: "_r"})
    merged = lf.merge(rf, on=on, how="inner")
    if merged.empty:
        return
    lv, rv = _dates(merged["_l"]), _dates(merged["_r"])
    broken = (~_OPS[op](lv, rv)) & lv.notna() & rv.notna()
    if not broken.any():
        return
    text = rule or f"must be {_WORDS[op]} {rcol}"
    bad = merged.loc[broken]
    for _, r in bad.iterrows():
        if not pd.isna(r["_lrow"]):
            out.add(file, int(r["_lrow"]), report_col or lcol, text, f"{r['_l']} vs {r['_r']}")
        elif not pd.isna(r["_rrow"]):
            out.add(_file_of(right, file), int(r["_rrow"]), rcol,
                    f"conflicts with {lcol} already in the registry: {text}", f"{r['_r']} vs {r['_l']}")


def _file_of(frame: pd.DataFrame, default: str) -> str:
    return frame.attrs.get("file", default)


def check_dates(eff: dict[str, pd.DataFrame], out: Collector) -> None:
    """Date order along the pathway (onset → diagnosis → mobilisation → collection → conditioning → day 0
    → engraftment), within-row intervals, and nothing recorded after death."""
    p = eff["patients"]
    for f in eff:
        eff[f].attrs["file"] = f"{f}.csv"
    same = PATIENT
    _within(out, p, "onset_date", "<=", "diagnosis_date", "patients.csv", rule="diagnosis must be on or after onset_date")
    _within(out, p, "consent_date", "<=", "consent_withdrawal_date", "patients.csv",
            rule="withdrawal must be on or after consent_date")
    _consent(p, out)
    _within(out, eff["mobilisations"], "start_date", "<=", "end_date", "mobilisations.csv")
    _within(out, eff["conditioning"], "start_date", "<=", "end_date", "conditioning.csv")
    _within(out, eff["adverse_events"], "onset_date", "<=", "resolution_date", "adverse_events.csv")
    _within(out, eff["dmt_exposures"], "start_date", "<=", "stop_date", "dmt_exposures.csv")
    t = eff["transplants"]
    _within(out, t, "day0", "<", "neutrophil_engraftment_date", "transplants.csv",
            rule_col="neutrophil_engraftment_date", rule="engraftment must be after day0")
    _within(out, t, "day0", "<", "platelet_engraftment_date", "transplants.csv",
            rule_col="platelet_engraftment_date", rule="engraftment must be after day0")
    _within(out, t, "admission_date", "<=", "day0", "transplants.csv", rule_col="admission_date",
            rule="admission must be on or before day0")
    _within(out, t, "day0", "<=", "discharge_date", "transplants.csv", rule_col="discharge_date",
            rule="discharge must be on or after day0")
    compare(out, eff["apheresis"], "collection_date", ">=", eff["mobilisations"], "start_date",
            on=[*same, "mobilisation_id"], file="apheresis.csv",
            rule="collection must be on or after its mobilisation's start_date")
    compare(out, eff["apheresis"], "collection_date", "<", eff["conditioning"], "start_date", on=same,
            file="apheresis.csv", rule="collection must be before conditioning start_date")
    compare(out, eff["cell_products"], "cryopreservation_date", ">=", eff["apheresis"], "collection_date",
            on=[*same, "collection_id"], file="cell_products.csv",
            rule="cryopreservation must be on or after its collection_date")
    compare(out, eff["conditioning"], "start_date", "<=", t, "day0", on=same, file="conditioning.csv",
            rule="conditioning must start on or before day0")
    d = eff["deaths"]
    after_death = [("transplants", "day0"), ("conditioning", "start_date"), ("apheresis", "collection_date"),
                   ("eligibility", "assessment_date"), ("edss_visits", "visit_date"), ("relapses", "onset_date"),
                   ("mri_scans", "scan_date"), ("adverse_events", "onset_date"), ("mobilisations", "start_date"),
                   ("patients", "last_contact_date"), ("pro_answers", "response_date")]
    for name, col in after_death:
        compare(out, eff[name], col, "<=", d, "death_date", on=same, file=f"{name}.csv",
                rule="nothing can be recorded after death_date")
    _custody_order(eff["custody_events"], out)
    _assessed(eff, out)
    _pro_answers(eff.get("pro_answers"), out)


def _consent(p: pd.DataFrame, out: Collector) -> None:
    """A withdrawal date is given exactly when consent_status is withdrawn."""
    if p.empty or "consent_withdrawal_date" not in p:
        return
    withdrawn = (p["consent_status"] == "withdrawn").to_numpy()
    dated = (p["consent_withdrawal_date"] != "").to_numpy()
    out.flag(p, withdrawn & ~dated, "patients.csv", "consent_withdrawal_date",
             "required when consent_status is withdrawn")
    out.flag(p, ~withdrawn & dated, "patients.csv", "consent_withdrawal_date",
             "must be empty unless consent_status is withdrawn")


def _within(out, frame, a, op, b, file, *, rule_col=None, rule=None) -> None:
    if frame.empty:
        return
    lv, rv = _dates(frame[a]), _dates(frame[b])
    broken = (~_OPS[op](lv, rv)) & lv.notna() & rv.notna()
    col = rule_col or b
    out.flag(frame, broken.to_numpy(), file, col, rule or f"{b} must be {_WORDS[_flip(op)]} {a}", value_col=col)


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]


def _custody_order(ev: pd.DataFrame, out: Collector) -> None:
    if ev.empty:
        return
    frame = ev.assign(_seq=pd.to_numeric(ev["seq"], errors="coerce"),
                      _at=pd.to_datetime(ev["event_at"], utc=True, format="ISO8601", errors="coerce"))
    frame = frame.sort_values([*PATIENT, "bag_id", "_seq"])
    prev = frame.groupby([*PATIENT, "bag_id"], sort=False)["_at"].shift()
    broken = (frame["_at"] < prev).to_numpy()
    out.flag(frame, broken, "custody_events.csv", "event_at", "custody events must be in time order of seq")


def _assessed(eff: dict[str, pd.DataFrame], out: Collector) -> None:
    """A count is given exactly when its assessment was done (``*_assessed`` = yes)."""
    for name, flag, count in (("eligibility", "gd_assessed", "gd_lesions"), ("mri_scans", "gd_assessed", "gd_lesions"),
                              ("mri_scans", "t2_assessed", "new_enlarging_t2")):
        f = eff[name]
        if f.empty:
            continue
        done = (f[flag] == "yes").to_numpy()
        has = (f[count] != "").to_numpy()
        out.flag(f, done & ~has, f"{name}.csv", count, f"required when {flag} is yes")
        out.flag(f, ~done & has, f"{name}.csv", count, f"must be empty unless {flag} is yes")


def check_patient_consistency(eff: dict[str, pd.DataFrame], out: Collector) -> None:
    """Products belong to the patient of their collection (checked by the join key) and
    a patient has at most one transplant (unique key). Birth year precedes every date."""
    p = eff["patients"]
    if p.empty:
        return
    by = pd.to_numeric(p["birth_year"], errors="coerce")
    onset = _dates(p["onset_date"]).dt.year
    out.flag(p, (onset < by).to_numpy() & onset.notna().to_numpy(), "patients.csv", "onset_date",
             "onset must be after birth_year")


def _pro_answers(a: pd.DataFrame | None, out: Collector) -> None:
    """A questionnaire answer names an item of its instrument and, for coded items, one of its answer codes
    (:data:`openhsct.registry.models.PRO_ITEMS`)."""
    from openhsct.registry.models import PRO_ITEMS

    if a is None or a.empty:
        return
    pairs = list(zip(a["instrument"].astype(str), a["item"].astype(str), strict=True))
    known = pd.Series([p in PRO_ITEMS for p in pairs], index=a.index).to_numpy()
    out.flag(a, ~known, "pro_answers.csv", "item", "not an item of this instrument (see docs/data-dictionary.md)")
    codes = [PRO_ITEMS.get(p) for p in pairs]
    bad = [c is not None and v not in c for c, v in zip(codes, a["answer"].astype(str), strict=True)]
    out.flag(a, known & pd.Series(bad, index=a.index).to_numpy(), "pro_answers.csv", "answer",
             "not one of the item's answer codes (see docs/data-dictionary.md)")
