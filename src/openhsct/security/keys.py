"""Opaque keys for the clinicians' patient addresses (OWASP ASVS 4.0 8.3.1: no sensitive data in URLs).

A patient's page is ``/clinic/<centre>/patients/<key>/``, where ``key`` is the first 20 hex digits (80 bits)
of HMAC-SHA256 over the centre and patient codes, keyed by a secret derived from ``SECRET_KEY``:

    key = hex(HMAC-SHA256(SHA256("openhsct.patient-url.v1" ‖ 0x00 ‖ SECRET_KEY), centre ‖ 0x00 ‖ patient))[:20]

So addresses, browser histories, proxy and server logs carry no pseudonymous code, and a key cannot be
computed from a code without the server's secret. Keys are stable while ``SECRET_KEY`` is (bookmarks
survive restarts, backups and restores); rotating the secret changes every key, and old addresses then
answer 404 like a missing patient. Nothing is stored: the server finds a key's patient by computing the keys
of the centre's patients (memoised per centre, recomputed when a key is not found).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from functools import lru_cache

from django.conf import settings
from django.urls.converters import StringConverter

PURPOSE = b"openhsct.patient-url.v1"
#: Hex digits kept of the HMAC (80 bits).
LENGTH = 20

_memo: dict[tuple[str, str], dict[str, str]] = {}
_lock = threading.Lock()


@lru_cache(maxsize=4)
def _secret(secret_key: str) -> bytes:
    """The key for patient addresses derived from ``secret_key``. Returns 32 bytes."""
    return hashlib.sha256(PURPOSE + b"\0" + secret_key.encode()).digest()


def patient_key(centre_code: str, patient_code: str, secret_key: str | None = None) -> str:
    """The opaque address key of patient ``patient_code`` of centre ``centre_code`` under ``secret_key``
    (default: this site's ``SECRET_KEY``). Returns 20 hex digits."""
    message = f"{centre_code}\0{patient_code}".encode()
    secret = _secret(settings.SECRET_KEY if secret_key is None else secret_key)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:LENGTH]


def key_of(patient) -> str:
    """The opaque address key of a :class:`~openhsct.registry.models.Patient`. Returns 20 hex digits."""
    return patient_key(patient.centre.centre_code, patient.patient_code)


def _keys_of_centre(centre) -> dict[str, str]:
    """``{key: patient_code}`` for every patient of ``centre`` the current connection can read."""
    from openhsct.registry.models import Patient

    codes = Patient.objects.filter(centre=centre).values_list("patient_code", flat=True)
    return {patient_key(centre.centre_code, code): code for code in codes}


def code_for(centre, key: str) -> str | None:
    """The patient code whose address key is ``key`` at ``centre``. Returns the code, or None when no patient
    of the centre has that key."""
    memo_key = (settings.SECRET_KEY, centre.centre_code)
    code = _memo.get(memo_key, {}).get(key)
    if code is None:
        keys = _keys_of_centre(centre)
        with _lock:
            _memo[memo_key] = keys
        code = keys.get(key)
    return code


def patient_for(centre, key: str):
    """The patient of ``centre`` whose address key is ``key``. Returns the Patient (centre loaded), or None."""
    from openhsct.registry.models import Patient

    code = code_for(centre, key)
    if code is None:
        return None
    return Patient.objects.select_related("centre").filter(centre=centre, patient_code=code).first()


class PatientKeyConverter(StringConverter):
    """URL converter ``<pkey:patient_key>``: 20 lower-case hex digits; anything else does not match (404)."""

    regex = f"[0-9a-f]{{{LENGTH}}}"
