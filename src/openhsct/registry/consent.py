"""Which patients may enter an aggregate that leaves the registry.

A patient's data may be published in aggregate (public pages, reports, the centre comparison, exports other
than the centre's own full backup) only while ``consent_status`` is ``given`` and the consent's publication
scope (``consent_publication``) is not ``no``. Patients whose consent was withdrawn or never given are left
out of every such aggregate; the number left out per centre is reported to staff. Pure functions on the
exchange tables (``registry_frames(typed=True)``), no database access.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ConsentFilter:
    """The tables restricted to patients who consented to publication (``tables``) and, per centre, how many
    patients were left out (``excluded``: centre_code -> count, every centre present)."""

    tables: dict[str, pd.DataFrame] = field(repr=False)
    excluded: dict[str, int]

    @property
    def n_excluded(self) -> int:
        return int(sum(self.excluded.values()))


def may_publish(patients: pd.DataFrame) -> np.ndarray:
    """True for each patient row whose consent allows publication in aggregate."""
    status = patients["consent_status"].astype(str).to_numpy()
    scope = (
        patients["consent_publication"].astype(str).to_numpy()
        if "consent_publication" in patients
        else np.full(len(patients), "", dtype=object)
    )
    return (status == "given") & (scope != "no")


def publishable(tables: dict[str, pd.DataFrame]) -> ConsentFilter:
    """Every table with the rows of patients who may not be published removed (centres are kept)."""
    patients = tables["patients"]
    allowed = may_publish(patients)
    centres = tables["centres"]["centre_code"].astype(str).to_numpy() if "centres" in tables else []
    left_out = patients.loc[~allowed, "centre_code"].astype(str).value_counts()
    excluded = {str(c): int(left_out.get(c, 0)) for c in centres}
    if allowed.all():
        return ConsentFilter(tables=tables, excluded=excluded)
    blocked = pd.MultiIndex.from_arrays(
        [patients.loc[~allowed, "centre_code"].astype(str), patients.loc[~allowed, "patient_code"].astype(str)]
    )
    out = {}
    for name, frame in tables.items():
        if "patient_code" not in frame.columns:
            out[name] = frame
            continue
        key = pd.MultiIndex.from_arrays([frame["centre_code"].astype(str), frame["patient_code"].astype(str)])
        out[name] = frame.loc[~key.isin(blocked)].reset_index(drop=True)
    return ConsentFilter(tables=out, excluded=excluded)
