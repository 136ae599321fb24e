"""REDCap: the data dictionary's 18 columns; registry → records CSV → import → the same registry export."""

from __future__ import annotations

import pandas as pd
import pytest

from openhsct.errors import ValidationError
from openhsct.interop import redcap
from openhsct.registry.exporter import registry_frames, write_frames
from tests.interop.conftest import assert_same_csv, empty_registry

pytestmark = pytest.mark.django_db


def test_dictionary_has_the_18_standard_columns_and_unique_lowercase_fields(tmp_path, db):
    n = redcap.write_dictionary(tmp_path / "dd.csv")
    dd = pd.read_csv(tmp_path / "dd.csv", dtype=str, keep_default_na=False)
    assert len(dd.columns) == 18 and list(dd.columns)[:2] == ["Variable / Field Name", "Form Name"]
    assert len(dd) == n and dd["Variable / Field Name"].is_unique
    assert dd.iloc[0]["Variable / Field Name"] == "record_id"
    assert dd["Variable / Field Name"].str.fullmatch(r"[a-z][a-z0-9_]*").all()
    edss = dd.set_index("Variable / Field Name").loc["edss_edss"]
    assert (edss["Form Name"], edss["Text Validation Type OR Show Slider Number"]) == ("edss_visits", "number")
    assert (edss["Text Validation Min"], edss["Text Validation Max"]) == ("0", "9.5")
    assert dd.set_index("Variable / Field Name").loc["mri_gd_lesions", "Branching Logic (Show field only if...)"] \
        == "[mri_gd_assessed] = '1'"
    sex = dd.set_index("Variable / Field Name").loc["pt_sex"]
    assert sex["Field Type"] == "radio" and sex["Choices, Calculations, OR Slider Labels"].startswith("1, female")


def test_redcap_round_trip_is_byte_for_byte(synthetic_registry, tmp_path):
    rows = redcap.export_records(tmp_path / "records.csv")
    records = pd.read_csv(tmp_path / "records.csv", dtype=str, keep_default_na=False)
    assert len(records) == rows
    assert {"edss_visits", "relapses", "adverse_events"} <= set(records["redcap_repeat_instrument"])
    empty_registry()
    report = redcap.import_records(tmp_path / "records.csv")
    assert report.created["patients"] == 20
    from openhsct.registry.models import AuditEvent

    event = AuditEvent.objects.filter(action="import").first()
    assert event.detail["source"] == str(tmp_path / "records.csv") and event.detail["converted_from"] == "redcap"
    again = tmp_path / "again"
    write_frames(registry_frames(), again)
    assert_same_csv(synthetic_registry, again)


def test_redcap_errors_name_the_file_line_and_field(synthetic_registry, tmp_path):
    from openhsct.registry import models as m

    redcap.export_records(tmp_path / "records.csv")
    empty_registry()
    records = pd.read_csv(tmp_path / "records.csv", dtype=str, keep_default_na=False)
    i = records.index[records["redcap_repeat_instrument"] == "edss_visits"][0]
    records.loc[i, "edss_edss"] = "12.0"
    j = records.index[records["redcap_repeat_instrument"] == ""][0]
    records.loc[j, "pt_sex"] = "9"
    records.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError) as info:
        redcap.import_records(tmp_path / "bad.csv")
    assert any(d.startswith(f"bad.csv:{j + 2}:pt_sex: not a choice") for d in info.value.details)
    records.loc[j, "pt_sex"] = "1"
    records.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError) as info:
        redcap.import_records(tmp_path / "bad.csv")
    assert any(d.startswith(f"bad.csv:{i + 2}:edss_edss:") for d in info.value.details), info.value.details
    assert m.Patient.objects.count() == 0


def test_questionnaire_answers_are_checked_on_import(tmp_path, db):
    from openhsct.registry.importer import import_bundle
    from tests.registry.bundle_factory import small_bundle, write

    bundle = small_bundle()
    bundle["pro_answers"] = [
        {"centre_code": "NRT", "patient_code": "P001", "response_date": "2019-01-10", "instrument": "pdds",
         "item": "pdds", "answer": "9", "source": "patient"},
        {"centre_code": "NRT", "patient_code": "P001", "response_date": "2019-01-10", "instrument": "pdds",
         "item": "walk", "answer": "1", "source": "patient"},
        {"centre_code": "NRT", "patient_code": "P002", "response_date": "2024-01-10", "instrument": "comment",
         "item": "text", "answer": "after death", "source": "patient"},
    ]
    with pytest.raises(ValidationError) as info:
        import_bundle(write(bundle, tmp_path / "b"))
    details = "\n".join(info.value.details)
    assert "pro_answers.csv:2:answer: not one of the item's answer codes" in details
    assert "pro_answers.csv:3:item: not an item of this instrument" in details
    assert "pro_answers.csv:4:response_date: nothing can be recorded after death_date" in details


def test_text_beginning_with_a_quote_or_a_formula_comes_back_exactly(db, tmp_path):
    """Free text that begins with ``'`` or a formula character survives registry → REDCap → registry
    unchanged (the temporary bundle the conversion writes carries the one CSV writer's escape, which the
    import then undoes exactly)."""
    from openhsct.registry.csvsafe import escape_cell
    from openhsct.registry.importer import import_bundle
    from tests.registry.bundle_factory import small_bundle, write

    bundle = small_bundle()
    texts = {("eligibility", 1, "reason"): "'twas judged eligible", ("deaths", 0, "cause"): "=1+1",
             ("eligibility", 0, "reason"): "''two quotes"}
    for (table, i, column), text in texts.items():
        bundle[table][i][column] = escape_cell(text)  # as the exchange format writes it
    import_bundle(write(bundle, tmp_path / "in"))
    before = registry_frames()
    redcap.export_records(tmp_path / "records.csv")
    empty_registry()
    redcap.import_records(tmp_path / "records.csv")
    after = registry_frames()
    for table, _, column in texts:
        assert sorted(after[table][column]) == sorted(before[table][column]), (table, column)
    assert set(texts.values()) <= {v for t, _, c in texts for v in after[t][c]}
