"""Public data releases: cut → build → disclose → store → publish, the only bridge from the registry to
the public.

- :mod:`.cut` reads the columns the public figures need, as known on the cut date, for patients whose
  consent allows publication;
- :mod:`.public` and :mod:`.build` compute every public figure (calling :mod:`openhsct.outcomes` and
  :mod:`openhsct.evidence`) as typed values (:mod:`.values`);
- :mod:`.disclosure` applies the rules of ``docs/disclosure.md`` to those types;
- :mod:`.store` keeps the parts content-addressed with a manifest, and moves a release from draft to
  published (and, with an erratum, to withdrawn);
- :mod:`.archive` writes a release's public tables (CSV, JSON, Parquet), its manifest and CITATION.cff.

The pure modules (values, disclosure, public, build, archive) import no Django; :mod:`.store`,
:mod:`.cut`'s reader and :mod:`.models` are the Django side.
"""
