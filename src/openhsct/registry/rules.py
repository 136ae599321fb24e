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


# Dates within one row, in pathway order: (table, earlier column, operator, later column, column the
# problem is reported on, rule). The forms and the import read this one list.
WITHIN_ROW: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("patients", "onset_date", "<=", "diagnosis_date", "diagnosis_date", "diagnosis must be on or after onset_date"),
    ("patients", "consent_date", "<=", "consent_withdrawal_date", "consent_withdrawal_date",
     "withdrawal must be on or after consent_date"),
    ("mobilisations", "start_date", "<=", "end_date", "end_date", "end_date must be on or after start_date"),
    ("conditioning", "start_date", "<=", "end_date", "end_date", "end_date must be on or after start_date"),
    ("adverse_events", "onset_date", "<=", "resolution_date", "resolution_date",
     "resolution_date must be on or after onset_date"),
    ("dmt_exposures", "start_date", "<=", "stop_date", "stop_date", "stop_date must be on or after start_date"),
    ("transplants", "day0", "<", "neutrophil_engraftment_date", "neutrophil_engraftment_date",
     "engraftment must be after day0"),
    ("transplants", "day0", "<", "platelet_engraftment_date", "platelet_engraftment_date",
     "engraftment must be after day0"),
    ("transplants", "admission_date", "<=", "day0", "admission_date", "admission must be on or before day0"),
    ("transplants", "day0", "<=", "discharge_date", "discharge_date", "discharge must be on or after day0"),
)

AFTER_DEATH = "nothing can be recorded after death_date"
BEFORE_BIRTH = "nothing can be dated before the patient's birth_year"
# Dates that may follow death: a bill paid later, a stored bag discarded later (custody events).
AFTER_DEATH_ALLOWED = frozenset({("costs", "cost_date")})


def after_death_columns() -> list[tuple[str, str]]:
    """Every (table, date column) that must be on or before the patient's death_date: all dates of every
    patient table, from the exchange tables (so a new table is covered), except the death's own and
    :data:`AFTER_DEATH_ALLOWED`. Returns them in table order."""
    from openhsct.registry.exchange import tables

    out = []
    for name, table in tables().items():
        if name in {"centres", "deaths"}:
            continue
        out += [(name, c.name) for c in table.columns if c.kind == "date" and (name, c.name) not in AFTER_DEATH_ALLOWED]
    return out


def dated_columns(name: str) -> list[str]:
    """The date and date-time columns of exchange table ``name`` (in file order)."""
    from openhsct.registry.exchange import tables

    return [c.name for c in tables()[name].columns if c.kind in {"date", "datetime"}]


def check_dates(eff: dict[str, pd.DataFrame], out: Collector) -> None:
    """Date order along the pathway (onset → diagnosis → mobilisation → collection → conditioning → day 0
    → engraftment), within-row intervals (:data:`WITHIN_ROW`), nothing dated before the patient's birth
    year and nothing recorded after death."""
    p = eff["patients"]
    for f in eff:
        eff[f].attrs["file"] = f"{f}.csv"
    same = PATIENT
    for name, a, op, b, col, rule in WITHIN_ROW:
        if name in eff and a in eff[name] and b in eff[name]:
            _within(out, eff[name], a, op, b, f"{name}.csv", rule_col=col, rule=rule)
    _consent(p, out)
    t = eff["transplants"]
    compare(out, eff["mobilisations"], "start_date", ">=", p, "diagnosis_date", on=same, file="mobilisations.csv",
            rule="mobilisation must be on or after diagnosis_date")
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
    for name, col in after_death_columns():
        if name in eff and col in eff[name]:
            compare(out, eff[name], col, "<=", d, "death_date", on=same, file=f"{name}.csv", rule=AFTER_DEATH)
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
    a patient has at most one transplant (unique key). Nothing is dated before the birth year."""
    p = eff["patients"]
    if p.empty:
        return
    births = p[[*PATIENT, "birth_year", ROW]].rename(columns={ROW: "_prow", "birth_year": "_birth"})
    births["_by"] = pd.to_numeric(births["_birth"], errors="coerce")
    for name, frame in eff.items():
        cols = [] if name == "centres" or frame.empty else dated_columns(name)
        if not cols:
            continue
        merged = frame[[*PATIENT, *cols, ROW]].merge(births, on=PATIENT, how="inner")
        for col in cols:
            year = pd.to_numeric(merged[col].str.slice(0, 4), errors="coerce")
            broken = (year < merged["_by"]).to_numpy() & year.notna().to_numpy()
            for _, r in merged.loc[broken].iterrows():
                _report_birth(out, name, col, r)


def _report_birth(out: Collector, name: str, col: str, r: pd.Series) -> None:
    """Report a date before the birth year on the bundle's row: the dated row, else the patient's."""
    value = f"{r[col]} vs {r['_birth']}"
    if not pd.isna(r[ROW]):
        out.add(f"{name}.csv", int(r[ROW]), col, BEFORE_BIRTH, value)
    elif not pd.isna(r["_prow"]):
        out.add("patients.csv", int(r["_prow"]), "birth_year",
                f"conflicts with {name}.{col} already in the registry: {BEFORE_BIRTH}", value)


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
