"""Consent: patients whose consent is withdrawn, not given or not for publication are left out of every
aggregate that leaves the registry."""

from __future__ import annotations

import pandas as pd

from openhsct.registry.consent import may_publish, publishable


def _tables() -> dict[str, pd.DataFrame]:
    patients = pd.DataFrame(
        {
            "centre_code": ["A", "A", "A", "B", "B"],
            "patient_code": ["P1", "P2", "P3", "P1", "P4"],
            "consent_status": ["given", "withdrawn", "given", "not_given", "given"],
            "consent_publication": ["", "", "no", "", "yes"],
        }
    )
    visits = pd.DataFrame(
        {"centre_code": ["A", "A", "A", "B", "B"], "patient_code": ["P1", "P2", "P3", "P1", "P4"], "edss": range(5)}
    )
    centres = pd.DataFrame({"centre_code": ["A", "B", "C"]})
    return {"centres": centres, "patients": patients, "edss_visits": visits}


def test_only_given_consent_within_its_publication_scope_is_published():
    assert list(may_publish(_tables()["patients"])) == [True, False, False, False, True]


def test_every_table_loses_the_rows_of_excluded_patients_and_the_counts_are_per_centre():
    f = publishable(_tables())
    assert f.excluded == {"A": 2, "B": 1, "C": 0} and f.n_excluded == 3
    assert list(zip(f.tables["edss_visits"]["centre_code"], f.tables["edss_visits"]["patient_code"], strict=True)) == [
        ("A", "P1"),
        ("B", "P4"),
    ]
    assert len(f.tables["centres"]) == 3  # centres are kept
    # the same patient code at another centre is a different person
    assert ("A", "P1") in set(zip(f.tables["patients"]["centre_code"], f.tables["patients"]["patient_code"], strict=True))
