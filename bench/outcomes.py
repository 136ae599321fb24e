"""The outcomes engine's speed claims, each against its reference measured in the same run.

Runs, in order: CDW per patient vs pymsprog (bench/outcomes_cdw.py), KM / CIF / Cox vs lifelines and
R (bench/outcomes_survival.py) and the whole centre summary (bench/outcomes_summary.py). Each part
prints its own table of ours, the reference and the ratio; pass --quick for smaller sizes.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["cdw", "survival", "summary"], help="run one part")
    args, rest = parser.parse_known_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    for part in ("cdw", "survival", "summary"):
        if args.only and args.only != part:
            continue
        print(f"\n=== outcomes_{part} ===", flush=True)
        module = _load(f"outcomes_{part}")
        sys.argv = [f"outcomes_{part}.py", *rest]
        module.main()


if __name__ == "__main__":
    main()
