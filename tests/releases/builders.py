"""Releases built in memory for the tests: synthetic registries cut, built and archived by
:mod:`openhsct.releases` without a database (the archive is what the public downloads)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

CUT = dt.date(2030, 12, 31)
PUBLISHED = "2031-01-15"


def typed_tables(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The exchange tables a release reads, typed as :func:`openhsct.registry.formats.typed_frame`."""
    from openhsct.registry.exchange import tables
    from openhsct.registry.formats import typed_frame
    from openhsct.releases.cut import RELEASE_TABLES

    schema = tables()
    return {k: typed_frame(v, list(schema[k].columns)) for k, v in raw.items() if k in RELEASE_TABLES}


def keep_first(raw: dict[str, pd.DataFrame], sizes: dict[str, int]) -> dict[str, pd.DataFrame]:
    """The registry with centre ``code`` cut to its first ``sizes[code]`` patients."""
    out = dict(raw)
    for code, n in sizes.items():
        p = out["patients"]
        drop = set(p.loc[p["centre_code"] == code, "patient_code"].iloc[n:])
        for name, frame in out.items():
            if "patient_code" in frame.columns:
                gone = (frame["centre_code"] == code) & frame["patient_code"].isin(drop)
                out[name] = frame.loc[~gone].reset_index(drop=True)
    return out


def build(raw: dict[str, pd.DataFrame], *, charts: bool = False, comparative: bool = False, client=None):
    """(parts, manifest, release id) of a release of ``raw`` at :data:`CUT`."""
    from openhsct.releases.build import BuildSettings, build_parts
    from openhsct.releases.cut import make_cut
    from openhsct.releases.store import make_manifest, release_id

    settings = BuildSettings(charts=charts, comparative=comparative)
    cut = make_cut(typed_tables(raw), CUT)
    parts = build_parts(cut, settings, client=client)
    manifest = make_manifest(cut, parts, settings)
    return parts, manifest, release_id(manifest)


def archive(raw: dict[str, pd.DataFrame], **kw) -> bytes:
    """The public archive of a release of ``raw``."""
    from openhsct.releases.archive import archive_bytes

    parts, manifest, rid = build(raw, **kw)
    parsed = {name: json.loads(data) for name, data in parts.items() if name.endswith(".json")}
    return archive_bytes(parsed, manifest, rid, PUBLISHED)
