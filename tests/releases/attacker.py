"""An independent disclosure attacker: it reads only a release's public archive (the zip anyone can
download) and derives every group it can.

It imports nothing from OpenHSCT (a test checks this): it knows the archive's file layout and the
public policy, not the code that applied it. For each release it finds

- every published group size (centre patients, patients per year, stratum sizes, the patients an estimate
  rests on, numbers at risk, patients with recorded costs, patients left out for lack of consent);
- every group it can derive by differencing: a centre's total minus its shown years or stratum levels, a
  group minus a subgroup published beside it (the patients an endpoint rests on, the patients with known
  day-100 status, patients with costs, the patients who answered a questionnaire in a period), the same
  centre's size in two files;
- every stratum cell in which everyone had the event;
- in the aHSCT-vs-DMT comparison: each arm minus its matched patients, the arms minus the patients a hazard
  ratio rests on, the registry-wide arms minus the countries shown, the published transplanted patients
  minus the aHSCT arm, and any group of 1-4 written into the analysis's warnings;
- every date or day in the files other than the release's own data cut and publication date, and every
  curve time off the public grid.

:func:`findings` returns what it found as sentences; a release passes when the list is empty.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pandas as pd

SMALL = range(1, 5)
GRID_MONTHS = {0, 3, 6, 9, 12, 15, 18, 21, 24} | set(range(36, 181, 12))
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def read_archive(data: bytes) -> tuple[dict[str, pd.DataFrame], dict, dict[str, str]]:
    """(tables read from the CSV files, the manifest, every text file's content by name)."""
    tables, texts, manifest = {}, {}, {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            raw = z.read(name)
            short = name.split("/", 1)[1]
            if short.endswith(".parquet"):
                continue
            text = raw.decode("utf-8")
            texts[short] = text
            if short == "manifest.json":
                manifest = json.loads(text)
            elif short.startswith("tables/") and short.endswith(".csv"):
                stem = short.removeprefix("tables/").removesuffix(".csv")
                tables[stem] = pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()
    return tables, manifest, texts


def _ints(series) -> list[int]:
    return [int(v) for v in pd.to_numeric(series, errors="coerce").dropna()]


def _small(v) -> bool:
    return v is not None and not pd.isna(v) and int(v) in SMALL


def _group_sizes(t: dict[str, pd.DataFrame]) -> list[str]:
    out = []
    columns = {
        "centres": ["n"], "per_year": ["n"], "strata": ["patients", "n", "n_risk"], "endpoints": ["n", "n_risk"],
        "curves": ["n_risk"], "mortality": ["n", "n_risk"], "harm": ["of_patients"], "edss_change": ["n"],
        "costs": ["patients"], "comparison": ["n", "trm_known_day100", "pfs_5y_n_risk"],
        "consent_excluded": ["patients_left_out"], "pro": ["n"],
        "comparative": ["n_treated", "n_control", "n_treated_matched", "n_control_matched"],
        "comparative_effects": ["n"],
    }
    for name, cols in columns.items():
        frame = t.get(name)
        if frame is None or frame.empty:
            continue
        for col in cols:
            if col in frame:
                bad = [v for v in _ints(frame[col]) if v in SMALL]
                if bad:
                    out.append(f"{name}.{col} shows a group of {bad[0]}")
    return out


def _centre_sizes(t: dict[str, pd.DataFrame]) -> dict[str, int]:
    c = t["centres"]
    return {r.centre_code: int(r.n) for r in c.itertuples() if not pd.isna(r.n)}


def _margins(t: dict[str, pd.DataFrame], sizes: dict[str, int]) -> list[str]:
    """A centre's total minus its shown cells of one margin (years; each stratum)."""
    out = []
    per_year = t.get("per_year")
    if per_year is not None and not per_year.empty:
        for code, rows in per_year.groupby("centre_code"):
            shown = _ints(rows["n"])
            hidden = int(rows["n"].isna().sum())
            rest = sizes.get(code, 0) - sum(shown)
            if hidden and rest in SMALL:
                out.append(f"{code}: {hidden} hidden year(s) add up to {rest}")
            if hidden == 1 and rest in SMALL:
                out.append(f"{code}: the hidden year is {rest}")
    strata = t.get("strata")
    if strata is not None and not strata.empty:
        cells = strata.drop_duplicates(["centre_code", "by", "level"])
        for (code, by), rows in cells.groupby(["centre_code", "by"]):
            shown = _ints(rows["patients"])
            hidden = int(rows["patients"].isna().sum())
            rest = sizes.get(code, 0) - sum(shown)
            if hidden and rest in SMALL:
                out.append(f"{code}: hidden {by} level(s) add up to {rest}")
    return out


def _subgroups(t: dict[str, pd.DataFrame], sizes: dict[str, int]) -> list[str]:
    """A group minus a subgroup published beside it."""
    out = []

    def check(name: str, col: str, where=None) -> None:
        frame = t.get(name)
        if frame is None or frame.empty or col not in frame:
            return
        for r in frame.itertuples():
            v = getattr(r, col)
            if pd.isna(v) or r.centre_code not in sizes:
                continue
            if where is not None and not where(r):
                continue
            rest = sizes[r.centre_code] - int(v)
            if rest in SMALL:
                out.append(f"{name}.{col} of {r.centre_code} leaves {rest} of its {sizes[r.centre_code]} patients")

    check("endpoints", "n")
    check("edss_change", "n")
    check("costs", "patients")
    check("mortality", "n")
    check("comparison", "trm_known_day100")
    check("pro", "n")
    comp = t.get("comparison")
    if comp is not None and not comp.empty:
        for r in comp.itertuples():
            if r.centre_code in sizes and not pd.isna(r.n) and int(r.n) != sizes[r.centre_code]:
                out.append(f"{r.centre_code}: two sizes in two files ({int(r.n)} and {sizes[r.centre_code]})")
    return out


def _all_or_none(t: dict[str, pd.DataFrame]) -> list[str]:
    """Stratum cells where every member had the event."""
    out = []
    strata = t.get("strata")
    if strata is None or strata.empty:
        return out
    for r in strata.itertuples():
        if pd.isna(r.patients) or pd.isna(r.estimate):
            continue
        if not pd.isna(r.events) and int(r.events) >= int(r.patients) > 0:
            out.append(f"{r.centre_code} {r.by}={r.level}: all {int(r.patients)} had the event ({r.measure})")
        survival = r.measure in ("pfs_5y", "os_5y")
        if (survival and float(r.estimate) == 0.0) or (not survival and float(r.estimate) == 1.0):
            out.append(f"{r.centre_code} {r.by}={r.level}: {r.measure} says everyone had the event")
    return out


def _dates(texts: dict[str, str], manifest: dict) -> list[str]:
    allowed = {manifest.get("cut")}
    cff = texts.get("CITATION.cff", "")
    released = re.search(r"date-released: \"([\d-]+)\"", cff)
    if released:
        allowed.add(released.group(1))
    out = []
    for name, text in texts.items():
        for m in ISO_DATE.finditer(text):
            if m.group(0) not in allowed and 1 <= int(m.group(2)) <= 12:
                out.append(f"{name}: exact date {m.group(0)}")
                break
    curves = None
    for name, text in texts.items():
        if name == "tables/curves.csv" and text.strip():
            curves = pd.read_csv(io.StringIO(text))
    if curves is not None and not curves.empty:
        off = sorted(set(_ints(curves["months"])) - GRID_MONTHS)
        if off:
            out.append(f"curves at months off the public grid: {off[:5]}")
    for name, text in texts.items():
        if name.startswith("tables/") and name.endswith(".csv") and text.strip():
            header = text.split("\n", 1)[0].split(",")
            if any(h in ("day", "days", "days_from_day0", "time_days", "date") for h in header):
                out.append(f"{name}: a column of exact days or dates")
    return out


def _manifest(manifest: dict) -> list[str]:
    """Counts of people in the manifest (patients left out per centre; any count of rows)."""
    out = [f"manifest: {code} left out {v}" for code, v in manifest.get("left_out_without_consent", {}).items()
           if isinstance(v, int) and v in SMALL]
    if "rows" in manifest:
        out.append("manifest: row counts of the whole registry (minus the shown centres: the hidden ones)")
    return out


WARNING_COUNT = re.compile(r"(?<![\d.])(\d+) (?:aHSCT |DMT |comparator )?patients")


def _comparative(t: dict[str, pd.DataFrame], sizes: dict[str, int]) -> list[str]:
    """The aHSCT-vs-DMT comparison: each arm minus its matched patients, the arms minus the patients a
    hazard ratio rests on, the registry-wide arm minus the countries shown, the transplanted patients of the
    published centres minus the aHSCT arm (either way), and counts written into the analysis's warnings."""
    out = []
    groups = t.get("comparative")
    if groups is None or groups.empty:
        return out
    shown = groups.loc[groups["available"].astype(bool)]

    def diff(a, b, what: str) -> None:
        if not (pd.isna(a) or pd.isna(b)) and int(a) - int(b) in SMALL:
            out.append(f"{what}: a group of {int(a) - int(b)} by difference")

    for r in shown.itertuples():
        where = f"comparative {r.comparator}/{r.scope}"
        diff(r.n_treated, r.n_treated_matched, f"{where} unmatched aHSCT patients")
        diff(r.n_control, r.n_control_matched, f"{where} unmatched DMT patients")
        for k in [int(v) for v in WARNING_COUNT.findall(str(r.warnings or ""))]:
            if k in SMALL:
                out.append(f"{where}: a warning names a group of {k}")
    effects = t.get("comparative_effects")
    if effects is not None and not effects.empty:
        arms = shown.set_index(["comparator", "scope"])
        for e in effects.itertuples():
            if (e.comparator, e.scope) not in arms.index:
                continue
            a = arms.loc[(e.comparator, e.scope)]
            cols = ("n_treated_matched", "n_control_matched") if e.analysis == "matched" else ("n_treated", "n_control")
            if not any(pd.isna(a[c]) for c in cols):
                diff(sum(int(a[c]) for c in cols), e.n, f"comparative {e.comparator}/{e.scope} {e.outcome} ({e.analysis})")
    countries = set(t["centres"].loc[t["centres"]["published"].astype(bool), "country"].astype(str))
    total = sum(sizes.values())
    for comparator, rows in shown.groupby("comparator"):
        reg = rows.loc[rows["scope"] == "registry"]
        if reg.empty:
            continue
        n_treated = reg["n_treated"].iloc[0]
        if not pd.isna(n_treated):
            diff(total, n_treated, f"comparative {comparator}: published transplanted patients minus the aHSCT arm")
            diff(n_treated, total, f"comparative {comparator}: aHSCT arm beyond the published patients")
        per_country = rows.loc[rows["scope"] != "registry"]
        missing = countries - set(per_country["scope"].astype(str))
        for col in ("n_treated", "n_control"):
            value = reg[col].iloc[0]
            if pd.isna(value) or not (missing or per_country[col].isna().any()):
                continue
            diff(value, sum(_ints(per_country[col])), f"comparative {comparator}: {col} of the countries not shown")
    return out


def findings(archive: bytes) -> list[str]:
    """Everything the attacker could derive that the policy forbids (empty when the release is safe)."""
    t, manifest, texts = read_archive(archive)
    sizes = _centre_sizes(t)
    return (_group_sizes(t) + _margins(t, sizes) + _subgroups(t, sizes) + _all_or_none(t)
            + _comparative(t, sizes) + _dates(texts, manifest) + _manifest(manifest))
