"""Open OpenHSCT's CSV exports the way a spreadsheet does and confirm that no cell became a formula.

LibreOffice (headless) converts each CSV file of a folder to XLSX; openpyxl then reads every cell and
fails on any formula (a cell whose type is ``f`` or whose value begins with ``=``). The folder defaults
to a fresh export of a synthetic bundle holding OWASP's formula examples in free-text cells.

Usage: ``python bench/csv_spreadsheet_check.py [FOLDER]``. Exits 2 with a clear message when LibreOffice
(``soffice``/``libreoffice``) or openpyxl is missing, 1 when a formula cell is found, 0 otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FORMULAS = ('=HYPERLINK("http://example.org","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "=1+2\";=1+2")


def sample_export(folder: Path) -> Path:
    """Write CSV files holding the formula examples through the one CSV writer; returns the folder."""
    import pandas as pd

    from openhsct.registry.csvsafe import csv_text

    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"note": list(FORMULAS), "dose": [-1.5, 2.0, -0.25, 3.0, 4.0]})
    (folder / "sample.csv").write_text(csv_text(frame), encoding="utf-8", newline="")
    return folder


def formula_cells(xlsx: Path) -> list[str]:
    """Returns ``sheet!cell`` for every formula cell of a workbook."""
    from openpyxl import load_workbook

    found = []
    for sheet in load_workbook(xlsx).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith("=")):
                    found.append(f"{xlsx.name}:{sheet.title}!{cell.coordinate}")
    return found


def main() -> int:
    """Convert, inspect, report. Returns the exit status."""
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        print("LibreOffice is not installed (soffice/libreoffice not on PATH): this check needs it; "
              "install it (for example `apt-get install libreoffice-calc`) and run again.")
        return 2
    try:
        import openpyxl  # noqa: F401 - presence check
    except ImportError:
        print("openpyxl is not installed: `pip install openpyxl` and run again.")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(sys.argv[1]) if len(sys.argv) > 1 else sample_export(Path(tmp) / "export")
        out = Path(tmp) / "xlsx"
        csvs = sorted(folder.glob("*.csv"))
        subprocess.run([office, "--headless", "--convert-to", "xlsx", "--outdir", str(out), *map(str, csvs)],
                       check=True, capture_output=True, timeout=600)
        bad = [c for x in sorted(out.glob("*.xlsx")) for c in formula_cells(x)]
    for cell in bad:
        print(f"formula cell: {cell}")
    print(f"{len(csvs)} CSV files checked, {len(bad)} formula cells")
    return 1 if bad else 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
    import django

    django.setup()
    raise SystemExit(main())
