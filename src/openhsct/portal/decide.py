"""The page "What could aHSCT mean for me?" (``/decide/``) and the standalone report of ``openhsct decide``.

The form is a GET form: the person's inputs travel in the address only, and nothing they enter is stored —
no session, no database row, no cache entry (the response is marked ``no-store`` and never enters the
public page cache). The statistics come from :func:`openhsct.decision.aid.decision_aid`; this module only
formats them. The prediction model is the one stored in the latest published data release
(:func:`release_model`, read once per release and process); the live registry is never read. The "similar
patients" come from the same release, under its disclosure rules: a group of 1-4 is not shown (nor its
curve), and the curve is on the public grid, cut where fewer than 5 remain at risk.
"""

from __future__ import annotations

import threading
from pathlib import Path

from django import forms
from django.shortcuts import render
from django.views.decorators.http import require_safe

from openhsct.portal import privacy

PAGE_PSA_SAMPLES = 100
PAGE_PSA_PATIENTS = 200
PAGE_PATIENTS = 2_000
_model_lock = threading.Lock()
_model_memo: dict[str, tuple] = {}


class DecideForm(forms.Form):
    """The person's inputs, with the rules shown beside each field."""

    age_years = forms.IntegerField(label="Age (years)", min_value=18, max_value=80, initial=34)
    sex = forms.ChoiceField(label="Sex", choices=[("F", "Female"), ("M", "Male")], initial="F")
    phenotype = forms.ChoiceField(
        label="MS type", choices=[("RRMS", "Relapsing-remitting"), ("SPMS", "Secondary progressive"),
                                  ("PPMS", "Primary progressive")], initial="RRMS",
    )
    edss = forms.ChoiceField(
        label="EDSS", choices=[(f"{v / 2:.1f}", f"{v / 2:.1f}") for v in range(20)], initial="3.5"
    )
    disease_duration_years = forms.FloatField(label="Years since first symptoms", min_value=0, max_value=60,
                                              initial=6)
    relapses_12m = forms.IntegerField(label="Relapses in the last 12 months", min_value=0, max_value=20,
                                      initial=2)
    gd_lesions = forms.IntegerField(label="Gd+ lesions on the last MRI", min_value=0, max_value=100, initial=3)
    prior_dmts = forms.IntegerField(label="Disease-modifying drugs tried", min_value=0, max_value=15, initial=2)
    comparator = forms.ChoiceField(label="The drug you would otherwise take", choices=[])
    price = forms.FloatField(label="Price of aHSCT (your currency; blank: published cost)", min_value=0,
                             required=False)
    currency = forms.RegexField(label="Currency (ISO 4217)", regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3)
    rates = forms.CharField(
        label="Exchange rates (units of your currency per unit: EUR=100, USD=90)", required=False, max_length=200
    )
    wtp = forms.FloatField(label="What you would pay per QALY (optional)", min_value=0, required=False)

    def __init__(self, *args, dmts: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["comparator"].choices = [(d, d.replace("_", " ")) for d in dmts]
        if "ocrelizumab" in dmts:
            self.fields["comparator"].initial = "ocrelizumab"

    def clean_rates(self) -> dict:
        from openhsct.decision.aid import DecisionInputError, parse_rates

        text = self.cleaned_data.get("rates") or ""
        items = [t for t in text.replace(";", ",").split(",") if t.strip()]
        try:
            return parse_rates(items)
        except DecisionInputError as exc:
            raise forms.ValidationError(" ".join(exc.details)) from None

    def person(self) -> dict:
        d = self.cleaned_data
        return {
            "age_years": d["age_years"],
            "sex": d["sex"],
            "phenotype": d["phenotype"],
            "edss": float(d["edss"]),
            "disease_duration_years": d["disease_duration_years"],
            "relapses_12m": d["relapses_12m"],
            "gd_lesions": d["gd_lesions"],
            "prior_dmts": d["prior_dmts"],
        }


NO_RELEASE = (
    "No individual prediction: no data release has been published yet. The prediction model is fitted when a "
    "release is built and is used here once that release is published."
)


def release_model() -> tuple:
    """``(stored, unavailable, release)``: the decision part (:class:`openhsct.releases.decision.StoredDecision`)
    of the latest published release, read once per release and process; ``stored`` is None (and
    ``unavailable`` says why) when nothing is published or the release holds no model."""
    from openhsct.releases.store import latest_published

    release = latest_published()
    if release is None:
        return None, NO_RELEASE, None
    stored = _stored_decision(release.pk)
    unavailable = None if stored.model is not None else (
        f"No individual prediction from data release {release.pk}: {stored.unavailable}."
    )
    return stored, unavailable, release


def _stored_decision(release_pk: str):
    """The decision part of release ``release_pk``, read back once per process (a release never changes)."""
    from openhsct.releases.decision import stored_decision
    from openhsct.releases.store import read_json

    with _model_lock:
        hit = _model_memo.get(release_pk)
        if hit is None:
            hit = stored_decision(read_json(release_pk, "decision.json"))
            _model_memo.clear()
            _model_memo[release_pk] = hit
    return hit


def similar_km(stored, person) -> tuple[list[dict] | None, int | None]:
    """The published Kaplan-Meier PFS (years) of the release's patients with the person's phenotype and
    EDSS band (on the public grid, points with fewer than 5 at risk left out; None when the group or its
    curve is suppressed), with the group's published size (None when suppressed)."""
    from openhsct.decision.prediction import similar_key, validate_person
    from openhsct.releases.decision import similar_rows

    if stored is None:
        return None, None
    return similar_rows(stored, similar_key(validate_person(person)))


def _trace_rows(aid) -> list[dict]:
    """Mean EDSS band of the living by year and strategy, from the model's EDSS trace."""
    from openhsct.decision.aid import mean_edss_by_year

    return mean_edss_by_year(aid.edss_trace)


def decide_context(aid, stored) -> dict:
    """Charts, tables and sentences of one decision aid (shared by the page and the CLI report); ``stored``:
    the release's decision part the prediction came from."""
    from openhsct.portal import decide_charts as dc

    ctx: dict = {"aid": aid, "currency": aid.currency, "per_100": aid.people_per_100()}
    if aid.prediction is not None:
        curve = aid.prediction.survival_curve
        ctx["curve_rows"] = curve.to_dict("records")
        similar, n_similar = similar_km(stored, aid.person)
        ctx["n_similar"] = privacy.SMALL if n_similar is None else n_similar
        ctx["similar_rows"] = similar
        ctx["prediction_chart"] = dc.prediction_chart(ctx["curve_rows"], similar, aid.prediction.horizon_years)
    trace = _trace_rows(aid)
    ctx["trace_rows"] = trace
    ctx["edss_chart"] = dc.edss_course_chart(trace) if trace else None
    ctx["totals_rows"] = aid.to_frame().reset_index().to_dict("records")
    ctx["nmb_rows"] = aid.nmb.reset_index().to_dict("records")
    ctx["strategies"] = list(aid.totals.index)
    if aid.psa_table is not None:
        from openhsct.decision.aid import ce_plane_points, long_ceac

        points = ce_plane_points(aid.psa_table)
        ctx["plane_rows"] = points
        ctx["plane_chart"] = dc.ce_plane_chart(points, aid.currency, "aHSCT against DMT")
        ceac_rows = long_ceac(aid.ceac_grid)
        ceaf_rows = aid.ceaf_grid.to_dict("records")
        ctx["ceac_rows"] = ceac_rows
        ctx["ceaf_rows"] = ceaf_rows
        ctx["ceac_chart"] = dc.ceac_chart(ceac_rows, ceaf_rows, aid.currency)
        evpi_rows = [{"wtp": float(w), "evpi": float(v)} for w, v in aid.evpi_grid.items()]
        ctx["evpi_rows"] = evpi_rows
        ctx["evpi_chart"] = dc.evpi_chart(evpi_rows, aid.currency)
        ctx["ceac_at"] = aid.ceac.reset_index().to_dict("records")
        ctx["evpi_at"] = [{"wtp": float(w), "evpi": float(v)} for w, v in aid.evpi.items()]
    ctx["unverified_rows"] = aid.unverified.to_dict("records")
    ctx["model_summary"] = aid.model
    return ctx


def _parameters():
    from openhsct.decision.parameters import load_parameters

    return load_parameters()


@require_safe
def decide(request):
    """The form, and for valid inputs the prediction, the model's results and their uncertainty."""
    from openhsct.decision.aid import decision_aid

    params = _parameters()
    bound = bool(request.GET)
    form = DecideForm(request.GET if bound else None, dmts=params.dmts())
    ctx = {"form": form, "min_n": privacy.MIN_N, "small_n_text": privacy.SMALL_N_TEXT}
    if bound and form.is_valid():
        stored, unavailable, release = release_model()
        d = form.cleaned_data
        aid = decision_aid(
            form.person(),
            None if stored is None else stored.model,
            params,
            comparator=d["comparator"],
            price=d.get("price"),
            currency=d["currency"].upper(),
            rates=d["rates"],
            n_patients=PAGE_PATIENTS,
            psa_samples=PAGE_PSA_SAMPLES,
            psa_patients=PAGE_PSA_PATIENTS,
            wtp=[d["wtp"]] if d.get("wtp") is not None else (),
            psa_options={"n_workers": 1, "processes": False},
            unavailable=unavailable,
        )
        ctx.update(decide_context(aid, stored))
        ctx["release"] = release
    response = render(request, "portal/decide.html", ctx)
    response["Cache-Control"] = "no-store, private"
    return response


def decide_report_html(aid, stored) -> str:
    """The standalone HTML report of ``openhsct decide --report`` (styles and charts inline)."""
    from django.contrib.staticfiles import finders
    from django.template.loader import render_to_string

    css_path = finders.find("portal/portal.css")
    css = Path(css_path).read_text(encoding="utf-8") if css_path else ""
    ctx = {**decide_context(aid, stored), "inline_css": css, "report": True, "min_n": privacy.MIN_N,
           "small_n_text": privacy.SMALL_N_TEXT}
    return render_to_string("portal/decide_report.html", ctx)
