"""Confirmed disability worsening / improvement (CDW, CDI), PIRA and RAW from visits and relapses.

``msprog`` reproduces pymsprog 1.0.7's ``MSprog`` events (same arguments, defaults and tables), split by
concept: :mod:`.thresholds` (minimum meaningful change), :mod:`.baseline` (where the reference sits),
:mod:`.confirmation` (confirmation and sustained change), :mod:`.relapses` (relapse windows, RAW / PIRA) and
:mod:`.events` (the chronological scan). Definitions: ``docs/progression.md``.
"""

from openhsct.outcomes.progression.api import MsprogArgumentError, MsprogResult, msprog

__all__ = ["MsprogArgumentError", "MsprogResult", "msprog"]
