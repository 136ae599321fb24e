"""Every change the patient area makes, each written once, through the ORM (so the audit history records
it with the signed-in user as the actor)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from openhsct.errors import OpenHSCTError
from openhsct.outcomes.instruments import check_answer, instrument
from openhsct.registry import models as m

INVITE_HOURS = 72
PASSWORD_MIN_LENGTH = 12


class InviteError(OpenHSCTError):
    """The sign-in link is unknown, used or expired."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def patient_invite_create(*, patient: m.Patient, created_by: str, hours: int = INVITE_HOURS) -> str:
    """Create a one-time sign-in link for ``patient``; returns the token (shown once, stored only hashed)."""
    token = secrets.token_urlsafe(32)
    m.PatientInvite.objects.create(patient=patient, token_sha256=_digest(token), created_by=created_by,
                                   expires_at=timezone.now() + dt.timedelta(hours=hours))
    return token


def patient_invite_valid(token: str) -> m.PatientInvite:
    """The unused, unexpired invite for ``token``; :class:`InviteError` otherwise."""
    invite = m.PatientInvite.objects.select_related("patient").filter(token_sha256=_digest(token)).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= timezone.now():
        raise InviteError("This sign-in link is not valid any more: it was used, it expired, or it was never "
                          "issued. Ask your clinic for a new one.")
    return invite


@transaction.atomic
def patient_invite_redeem(token: str) -> m.PatientAccount:
    """Use an invite: mark it used and return the patient's account (created on first use, with no
    password until the patient sets one)."""
    invite = patient_invite_valid(token)
    updated = m.PatientInvite.objects.filter(pk=invite.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not updated:  # a second tab redeemed it a moment earlier
        raise InviteError("This sign-in link was just used. Ask your clinic for a new one.")
    return patient_account_ensure(patient=invite.patient)


@transaction.atomic
def patient_account_ensure(*, patient: m.Patient, password: str | None = None) -> m.PatientAccount:
    """The patient's account, created if missing (user name ``patient-<centre>-<code>``); the password is
    set when given (the demo's patient login), else a new account has none until the patient sets one."""
    account = m.PatientAccount.objects.select_related("user").filter(patient=patient).first()
    if account is None:
        username = f"patient-{patient.centre.centre_code}-{patient.patient_code}".lower()[:150]
        user = get_user_model().objects.create_user(username=username)
        user.set_unusable_password()
        user.save()
        account = m.PatientAccount.objects.create(user=user, patient=patient)
    if password is not None:
        account.user.set_password(password)
        account.user.save(update_fields=["password"])
    return account


def patient_password_set(*, account: m.PatientAccount, password: str) -> None:
    """Set the patient's password (hashed with Argon2, the first of PASSWORD_HASHERS)."""
    from django.contrib.auth.password_validation import validate_password

    if len(password) < PASSWORD_MIN_LENGTH:
        raise OpenHSCTError(f"Choose a password of at least {PASSWORD_MIN_LENGTH} characters.")
    try:
        validate_password(password, account.user)
    except DjangoValidationError as exc:
        raise OpenHSCTError(" ".join(exc.messages)) from None
    account.user.set_password(password)
    account.user.save(update_fields=["password"])


@transaction.atomic
def pro_answers_record(*, patient: m.Patient, instrument_code: str, answers: dict[str, str],
                       response_date: dt.date) -> list[m.ProAnswer]:
    """Store the patient's answers to one questionnaire (``source`` patient). A clinician's answer for
    the same day and item is a different row and is never touched. Empty answers are not stored.

    Raises :class:`OpenHSCTError` naming the item when an answer breaks the instrument's rules.
    """
    inst = instrument(instrument_code)
    saved = []
    for item in inst.items:
        value = str(answers.get(item.item_id, "")).strip()
        if value == "":
            continue
        problem = check_answer(inst.code, item.item_id, value)
        if problem:
            raise OpenHSCTError(f"{item.text}: {problem}")
        row, _ = m.ProAnswer.objects.update_or_create(
            patient=patient, response_date=response_date, instrument=inst.code, item=item.item_id,
            source=m.ProAnswer.Source.PATIENT, defaults={"answer": value})
        row.full_clean()
        saved.append(row)
    return saved


@transaction.atomic
def patient_consent_withdraw(*, patient: m.Patient, scope: str, on: dt.date) -> m.Patient:
    """Withdraw consent: ``publication`` (no aggregate publication; the record stays in the registry) or
    ``registry`` (consent withdrawn with its date: the patient leaves every aggregate). The audit history
    keeps who changed what and when; the next release and the staff dashboard reflect it."""
    if scope == "publication":
        patient.consent_publication = m.YesNo.NO
    elif scope == "registry":
        patient.consent_status = m.Patient.Consent.WITHDRAWN
        patient.consent_withdrawal_date = on
        patient.consent_publication = m.YesNo.NO
    else:
        raise OpenHSCTError(f"unknown consent scope {scope!r}: publication or registry")
    patient.save()
    return patient
