"""Addresses of patients in the clinicians' area, for tests: the patient part is the opaque key
(:mod:`openhsct.security.keys`), never the code."""

from __future__ import annotations


def patient_url(centre_code: str, patient_code: str, rest: str = "", *, secret_key: str | None = None) -> str:
    """``/clinic/<centre>/patients/<key>/<rest>`` for patient ``patient_code`` of ``centre_code``; the key
    from ``secret_key`` (a live server's) or from this process's settings."""
    from openhsct.security.keys import patient_key

    return f"/clinic/{centre_code}/patients/{patient_key(centre_code, patient_code, secret_key)}/{rest}"
