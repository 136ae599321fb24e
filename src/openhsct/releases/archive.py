"""A release's public archive: its public tables as CSV, JSON and Parquet, the manifest and a
``CITATION.cff``, in one zip whose bytes depend only on the release.

Formatting only: every value is read from the release's stored parts (already disclosed); a suppressed
value is an empty cell with the reason in the row's ``note``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

import pandas as pd

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _cell(v: Any) -> tuple[Any, str]:
    """(value, note) of one disclosed value: a suppressed one gives (None, its reason)."""
    if isinstance(v, Mapping) and v.get("suppressed"):
        return None, str(v.get("reason", "suppressed"))
    return v, ""


def _estimate_row(v: Mapping) -> dict:
    if v.get("suppressed"):
        return {"estimate": None, "lower": None, "upper": None, "n": None, "events": None, "n_risk": None,
                "note": v.get("reason", "suppressed")}
    return {k: v.get(k) for k in ("estimate", "lower", "upper", "n", "events", "n_risk")} | {"note": ""}


def public_tables(parts: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The public tables of a release from its parsed JSON parts (``name -> object``)."""
    centres = parts["centres.json"]["centres"]
    t: dict[str, list[dict]] = {k: [] for k in (
        "centres", "per_year", "endpoints", "curves", "mortality", "harm", "strata", "edss_change", "costs",
        "consent_excluded", "pro")}
    for c in centres:
        n, note = _cell(c["n"])
        t["centres"].append({k: c[k] for k in ("centre_code", "name", "country", "city", "synthetic", "published")}
                            | {"n": n, "note": note})
    for code, v in sorted(parts["consent.json"]["excluded"].items()):
        n, note = _cell(v)
        t["consent_excluded"].append({"centre_code": code, "patients_left_out": n, "note": note})
    for name, page in sorted(parts.items()):
        if not (name.startswith("centre/") and name.endswith(".json")):
            continue
        code = page["centre"]["centre_code"]
        for r in page["per_year"]:
            n, note = _cell(r["n"])
            t["per_year"].append({"centre_code": code, "year": r["level"], "n": n, "note": note})
        for ep in page["endpoints"]:
            for a in ep["at"]:
                t["endpoints"].append({"centre_code": code, "endpoint": ep["key"], "years": a["years"],
                                       **_estimate_row(a["value"])})
            if isinstance(ep["curve"], list):
                for p in ep["curve"]:
                    t["curves"].append({"centre_code": code, "curve": ep["key"], **p})
        trm = page["trm"]
        if isinstance(trm["curve"], list):
            for p in trm["curve"]:
                t["curves"].append({"centre_code": code, "curve": f"trm_{trm['definition_key']}", **p})
        for key, m in page["trm_family"].items():
            t["mortality"].append({"centre_code": code, "measure": key, **_estimate_row(m["measure"])})
        for h in page["harm"]:
            c = h["count"]
            t["harm"].append({"centre_code": code, "what": h["what"], "time_band": h["band"],
                              "events": None if c.get("suppressed") else c["events"],
                              "of_patients": None if c.get("suppressed") else c["n"],
                              "note": c.get("reason", "") if c.get("suppressed") else ""})
        for by, rows in page["strata"].items():
            for r in rows:
                n, note = _cell(r["n"])
                for measure in ("pfs_5y", "os_5y", "trm_day100"):
                    t["strata"].append({"centre_code": code, "by": by, "level": r["level"], "patients": n,
                                        "measure": measure, **_estimate_row(r[measure])}
                                       | ({"note": note} if note else {}))
        for r in page.get("course") or []:
            n, note = _cell(r["n"])
            t["strata"].append({"centre_code": code, "by": "course", "level": r["level"], "patients": n,
                                "measure": "pfs_5y", **_estimate_row(r["pfs_5y"])} | ({"note": note} if note else {}))
        for r in page["edss_change"]:
            row = {"centre_code": code, "years": r["years"]}
            for k in ("improved", "stable", "worse"):
                row[k] = None if r[k].get("suppressed") else r[k]["events"]
            row["n"] = None if r["worse"].get("suppressed") else r["worse"]["n"]
            row["median_change"] = None if r["median_change"].get("suppressed") else r["median_change"]["estimate"]
            row["mean_change"] = None if r["mean_change"].get("suppressed") else r["mean_change"]["estimate"]
            t["edss_change"].append(row)
        costs = page.get("costs")
        if costs:
            for r in [{"category": "total", "patients": costs["patients"], "median": costs["median"]},
                      *costs["by_category"]]:
                n, note = _cell(r["patients"])
                med = r["median"]
                t["costs"].append({"centre_code": code, "currency": costs["currency"], "category": r["category"],
                                   "patients": n, "median": None if med.get("suppressed") else med["estimate"],
                                   "q1": None if med.get("suppressed") else med["lower"],
                                   "q3": None if med.get("suppressed") else med["upper"], "note": note})
        local = page.get("costs_local")
        if local:
            n, note = _cell(local["patients"])
            med = local["median"]
            t["costs"].append({"centre_code": code, "currency": local["currency"], "category": "total",
                               "patients": n, "median": None if med.get("suppressed") else med["estimate"],
                               "q1": None if med.get("suppressed") else med["lower"],
                               "q3": None if med.get("suppressed") else med["upper"], "note": note})
        for code_pro, block in sorted((page.get("pro") or {}).items()):
            for w in block["windows"]:
                v = w["value"]
                t["pro"].append({"centre_code": code, "instrument": code_pro, "score": block["label"],
                                 "window": w["window"], "n": None if v.get("suppressed") else v["n"],
                                 "median": None if v.get("suppressed") else v["estimate"],
                                 "min": None if v.get("suppressed") else v["lower"],
                                 "max": None if v.get("suppressed") else v["upper"],
                                 "note": v.get("reason", "") if v.get("suppressed") else ""})
    out = {name: pd.DataFrame(rows) for name, rows in t.items()}
    out["comparison"] = comparison_table(parts["comparison.json"])
    if parts.get("comparative.json") is not None:
        out["comparative"], out["comparative_effects"] = comparative_tables(parts["comparative.json"])
    return out


def _count(v: Any) -> int | None:
    """A published count, or None where it is shown as suppressed (``"<5"``, ``"not shown"``)."""
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def comparative_tables(comparative: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The aHSCT-vs-DMT comparison as two flat tables: the groups of each comparison (registry-wide and
    per country: aHSCT and DMT patients, and those matched) with the analysis's warnings, and each hazard
    ratio with the patients and events it rests on."""
    groups, effects = [], []
    for comparator, block in sorted(comparative.items()):
        scopes = [("registry", block["registry"])] + [(c["country"], c) for c in block.get("countries", [])]
        for scope, ctx in scopes:
            if not ctx.get("available", True):
                groups.append({"comparator": comparator, "scope": scope, "available": False,
                               "note": ctx.get("reason", "")})
                continue
            groups.append({"comparator": comparator, "scope": scope, "available": True,
                           **{k: _count(ctx.get(k)) for k in
                              ("n_treated", "n_control", "n_treated_matched", "n_control_matched")},
                           "warnings": " | ".join(ctx.get("warnings") or [])})
            for e in ctx.get("effects") or []:
                for analysis in ("matched", "weighted"):
                    hr = e.get(analysis)
                    if hr:
                        effects.append({"comparator": comparator, "scope": scope, "outcome": e["label"],
                                        "analysis": analysis, "estimate": hr["estimate"], "lower": hr["lower"],
                                        "upper": hr["upper"], "n": hr["n"], "events": hr["events"]})
    return pd.DataFrame(groups), pd.DataFrame(effects)


def comparison_table(comparison: Mapping) -> pd.DataFrame:
    """The centre comparison as one flat table (a suppressed figure is an empty cell)."""
    rows = []
    for row in comparison["rows"]:
        rate, oe = row["trm"]["rate"], row["trm"]["oe"]
        pfs, comp = row["pfs_5y"]["value"], row["followup"]["completeness"]
        rows.append({
            "centre_code": row["centre_code"], "name": row["name"], "country": row["country"],
            "n": _cell(row["n"])[0],
            "followup_share": None if comp.get("suppressed") else comp.get("estimate"),
            "followup_flag": row["followup"]["flag"],
            "trm_deaths_day100": None if rate.get("suppressed") else rate["events"],
            "trm_known_day100": None if rate.get("suppressed") else rate["n"],
            "trm_rate": None if rate.get("suppressed") else rate["estimate"],
            "trm_position": row["trm"]["position"],
            "oe_shrunk": None if oe.get("suppressed") else oe["estimate"],
            "oe_lower": None if oe.get("suppressed") else oe["lower"],
            "oe_upper": None if oe.get("suppressed") else oe["upper"],
            "oe_tier": row["trm"]["tier"],
            "pfs_5y": None if pfs.get("suppressed") else pfs["estimate"],
            "pfs_5y_n_risk": None if pfs.get("suppressed") else pfs.get("n_risk"),
            "pfs_position": row["pfs_5y"]["position"],
        })
    return pd.DataFrame(rows)


def citation_cff(manifest: Mapping, release_id: str, published: str | None) -> str:
    """CITATION.cff (Citation File Format 1.2.0) for a release."""
    return (
        "cff-version: 1.2.0\n"
        "message: \"If you use these data, please cite this release by its identifier and data cut.\"\n"
        "type: dataset\n"
        f"title: \"OpenHSCT public data release {release_id} (data cut {manifest['cut']})\"\n"
        "authors:\n  - name: \"OpenHSCT registry contributors\"\n"
        f"version: \"{release_id}\"\n"
        + (f"date-released: \"{published}\"\n" if published else "")
        + "license: \"AGPL-3.0-or-later\"\n"
        "keywords:\n  - multiple sclerosis\n  - autologous haematopoietic stem cell transplantation\n  - registry\n"
        f"abstract: \"Aggregate, disclosure-checked outcomes of aHSCT in MS, data cut {manifest['cut']}; "
        f"registry digest {manifest['registry_digest']}.\"\n"
    )


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def archive_bytes(parts: Mapping[str, Any], manifest: Mapping, release_id: str, published: str | None) -> bytes:
    """The zip of a release: ``tables/<name>.{csv,json,parquet}``, ``manifest.json``, ``CITATION.cff``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(f"openhsct-{release_id}/{name}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        add("manifest.json", (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode())
        add("CITATION.cff", citation_cff(manifest, release_id, published).encode())
        from openhsct.registry.csvsafe import csv_text

        for name, frame in sorted(public_tables(parts).items()):
            add(f"tables/{name}.csv", csv_text(frame).encode())  # the one safe CSV writer
            add(f"tables/{name}.json", (frame.to_json(orient="records", indent=1) + "\n").encode())
            add(f"tables/{name}.parquet", _parquet_bytes(frame))
    return buf.getvalue()
