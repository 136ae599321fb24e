"""Patient-reported outcomes on the public centre page, read from the published release: the median and
range per period with the number who answered, and no period resting on fewer than 5 patients."""

from __future__ import annotations

import re


def test_centre_page_shows_pro_over_time_from_the_release(small_registry, db, client):
    from openhsct.releases.store import read_json

    page = read_json(small_registry["release"], f"centre/{small_registry['big']}.json")
    windows = page["pro"]["pdds"]["windows"]
    shown = [w for w in windows if not w["value"]["suppressed"]]
    assert shown and all(w["value"]["n"] >= 5 for w in shown)
    assert all(w["value"]["lower"] <= w["value"]["estimate"] <= w["value"]["upper"] for w in shown)
    html = client.get(f"/centres/{small_registry['big']}/").content.decode()
    assert "In the patients&#x27; own words" in html or "In the patients' own words" in html
    first = shown[0]["value"]
    row = re.search(r"<th scope=\"row\">Baseline</th><td class=\"num\">([\d,]+)</td>", html)
    assert row and int(row.group(1).replace(",", "")) == first["n"]


def test_a_small_centre_shows_no_pro_period_under_five(small_registry, db):
    from openhsct.releases.store import read_json

    page = read_json(small_registry["release"], f"centre/{small_registry['medium']}.json")
    for w in page["pro"]["pdds"]["windows"]:
        v = w["value"]
        assert v["suppressed"] or (v["n"] >= 5 and not 0 < page["n_patients"] - v["n"] < 5)
