"""A small hand-made registry whose endpoints are worked out by hand in the tests.

Centre C1: five transplanted patients A–E; centre C2: one patient F with no events. Days are from each
patient's day 0 (2020 is a leap year).

* A (day 0 2020-01-01, RRMS, EDSS 3.0 at day -31): EDSS 3.0 / 4.0 / 4.0 / 4.0 at days 182 / 366 / 547 / 731,
  so a CDW at day 366 confirmed at 547 (181 days >= 24 weeks). Scans at 91 (re-baseline: its 2 new T2
  lesions do not count; no Gd+ lesion), 370 (T2 read, 0) and 735 (T2 and Gd read, 0). Last contact 2022-06-01 = day 882.
* B (day 0 2020-03-01, SPMS, EDSS 6.0): died day 40, transplant-related.
* C (day 0 2019-06-01, RRMS, EDSS 2.0): relapse at day 458; scans at 106 (re-baseline), 375 (T2 *not* read,
  Gd read 0), 735 (1 new T2 lesion); died day 1310, not transplant-related.
* D (day 0 2021-01-01): no pre-transplant EDSS; one visit at day 19; last contact day 31.
* E (day 0 2020-05-01, PPMS, EDSS 4.0): died day 200, attribution unknown.
* F (centre C2, day 0 2020-01-01, EDSS 3.0): a single visit at day 366, last contact that day.
"""

from __future__ import annotations

import pandas as pd

from openhsct.registry import synth

AS_OF = "2023-06-30"


def _r(centre: str, patient: str, **cols) -> dict:
    return {"centre_code": centre, "patient_code": patient, **cols}


def rows() -> dict[str, list[dict]]:
    def pat(c, p, pheno, birth, last):
        return _r(
            c,
            p,
            sex="female",
            birth_year=str(birth),
            phenotype=pheno,
            onset_date="",
            diagnosis_date="",
            consent_status="given",
            consent_date="",
            last_contact_date=last,
        )

    def elig(c, p, date, edss):
        return _r(
            c,
            p,
            assessment_date=date,
            edss=edss,
            relapses_prior_12m="1",
            gd_assessed="yes",
            gd_lesions="1",
            prior_dmt_count="1",
            prior_dmts="",
            decision="eligible",
            reason="",
        )

    def tx(c, p, day0):
        return _r(
            c,
            p,
            day0=day0,
            cd34_infused_1e6_per_kg="5.00",
            admission_date="",
            discharge_date="",
            neutrophil_engraftment_date="",
            platelet_engraftment_date="",
        )

    def scan(p, date, t2a, t2, gda, gd, c="C1"):
        return _r(c, p, scan_date=date, t2_assessed=t2a, new_enlarging_t2=t2, gd_assessed=gda, gd_lesions=gd)

    def ae(p, ae_id, grade, onset, c="C1"):
        return _r(
            c,
            p,
            ae_id=ae_id,
            category="infection",
            ctcae_term="Sepsis",
            grade=str(grade),
            onset_date=onset,
            resolution_date="",
            attribution="related",
            serious="yes",
        )

    def cost(p, category, amount, currency):
        return _r("C1", p, cost_date="2020-01-01", category=category, amount=amount, currency=currency)

    def cond(c, p, intensity):
        return _r(
            c,
            p,
            regimen="Cy200+ATG",
            intensity=intensity,
            atg="yes",
            rituximab="no",
            start_date="2019-01-01",
            end_date="",
        )

    return {
        "centres": [
            {
                "centre_code": "C1",
                "name": "Centre One",
                "country": "GBR",
                "city": "Oneton",
                "synthetic": "yes",
            },
            {"centre_code": "C2", "name": "Centre Two", "country": "SWE", "city": "", "synthetic": "yes"},
        ],
        "patients": [
            pat("C1", "PA", "RRMS", 1985, "2022-06-01"),
            pat("C1", "PB", "SPMS", 1970, "2020-04-10"),
            pat("C1", "PC", "RRMS", 1990, "2022-12-01"),
            pat("C1", "PD", "RRMS", 1980, "2021-02-01"),
            pat("C1", "PE", "PPMS", 1965, "2020-11-17"),
            pat("C2", "PF", "RRMS", 1988, "2021-01-01"),
        ],
        "eligibility": [
            elig("C1", "PA", "2019-12-01", "3.0"),
            elig("C1", "PB", "2020-02-01", "6.0"),
            elig("C1", "PC", "2019-05-01", "2.0"),
            elig("C1", "PE", "2020-04-01", "4.0"),
            elig("C2", "PF", "2019-12-15", "3.0"),
        ],
        "conditioning": [
            cond("C1", "PA", "intermediate"),
            cond("C1", "PB", "high"),
            cond("C1", "PC", "intermediate"),
            cond("C1", "PD", "intermediate"),
            cond("C1", "PE", "high"),
            cond("C2", "PF", "low"),
        ],
        "transplants": [
            tx("C1", "PA", "2020-01-01"),
            tx("C1", "PB", "2020-03-01"),
            tx("C1", "PC", "2019-06-01"),
            tx("C1", "PD", "2021-01-01"),
            tx("C1", "PE", "2020-05-01"),
            tx("C2", "PF", "2020-01-01"),
        ],
        "adverse_events": [
            ae("PA", "AE1", 3, "2020-01-11"),
            ae("PB", "AE1", 5, "2020-04-05"),
            ae("PE", "AE1", 2, "2020-06-01"),
        ],
        "deaths": [
            _r(
                "C1",
                "PB",
                death_date="2020-04-10",
                cause="",
                cause_category="infection",
                transplant_related="yes",
            ),
            _r(
                "C1",
                "PC",
                death_date="2023-01-01",
                cause="",
                cause_category="malignancy",
                transplant_related="no",
            ),
            _r(
                "C1",
                "PE",
                death_date="2020-11-17",
                cause="",
                cause_category="unknown",
                transplant_related="unknown",
            ),
        ],
        "edss_visits": [
            _r("C1", "PA", visit_date=d, edss=e)
            for d, e in (
                ("2020-07-01", "3.0"),
                ("2021-01-01", "4.0"),
                ("2021-07-01", "4.0"),
                ("2022-01-01", "4.0"),
            )
        ]
        + [_r("C1", "PC", visit_date=d, edss="2.0") for d in ("2020-06-01", "2021-06-01")]
        + [
            _r("C1", "PD", visit_date="2021-01-20", edss="3.0"),
            _r("C2", "PF", visit_date="2021-01-01", edss="3.0"),
        ],
        "relapses": [_r("C1", "PC", onset_date="2020-09-01")],
        "mri_scans": [
            scan("PA", "2020-04-01", "yes", "2", "yes", "0"),
            scan("PA", "2021-01-05", "yes", "0", "no", ""),
            scan("PA", "2022-01-05", "yes", "0", "yes", "0"),
            scan("PC", "2019-09-15", "yes", "0", "no", ""),
            scan("PC", "2020-06-10", "unknown", "", "yes", "0"),
            scan("PC", "2021-06-05", "yes", "1", "no", ""),
        ],
        "costs": [
            cost("PA", "hospital_stay", "1000.00", "EUR"),
            cost("PA", "drugs", "100.00", "EUR"),
            cost("PB", "hospital_stay", "1041.10", "USD"),
            cost("PC", "hospital_stay", "826.08", "GBP"),
        ],
    }


def tables(data: dict[str, list[dict]] | None = None) -> dict[str, pd.DataFrame]:
    """Typed exchange tables (as ``registry_frames(typed=True)`` gives them) from rows; absent tables empty."""
    data = rows() if data is None else data
    out = {}
    for name, columns in synth.TABLE_COLUMNS.items():
        frame = pd.DataFrame(data.get(name, []), columns=list(columns)).fillna("").astype(object)
        out[name] = synth.typed(frame)
    return out
