"""``openhsct report --centre CODE --out FILE.pdf|.html``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from openhsct.cli import app

runner = CliRunner()


def test_report_html_and_pdf(small_registry, db, tmp_path):
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--centre", "SYN03", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "fewer than 5 patients whose data may be published" in html and "<svg" not in html
    pdf = tmp_path / "r.pdf"
    result = runner.invoke(app, ["report", "--centre", "SYN01", "--out", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    assert small_registry["release"] in html  # the report names the release it comes from


@pytest.mark.parametrize(
    "args", [["--centre", "NOPE", "--out", "x.pdf"], ["--centre", "SYN01", "--out", "x.docx"]]
)
def test_report_errors_exit_2_without_traceback(small_registry, db, tmp_path, args):
    args = [a if a not in ("x.pdf", "x.docx") else str(tmp_path / a) for a in args]
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
