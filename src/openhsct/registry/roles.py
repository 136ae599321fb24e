"""Who may see and change what. One helper per question, called first thing by every view and admin.

- **centre staff** read and change their own centre's patients and nothing else;
- a **monitor** reads every centre and changes nothing;
- a superuser (the registry's administrator) may do everything.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from openhsct.registry.models import Centre, Membership, Patient


def membership(user) -> Membership | None:
    """The user's role record, or None for the public and for users without a role."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def is_monitor(user) -> bool:
    m = membership(user)
    return m is not None and m.role == Membership.Role.MONITOR


def staff_centre(user) -> Centre | None:
    """The centre a staff member belongs to (None for monitors, superusers and the public)."""
    m = membership(user)
    return m.centre if m is not None and m.role == Membership.Role.STAFF else None


def can_read_centre(user, centre: Centre) -> bool:
    if user.is_superuser or is_monitor(user):
        return True
    c = staff_centre(user)
    return c is not None and c.pk == centre.pk


def can_write_centre(user, centre: Centre | None) -> bool:
    if user.is_superuser:
        return True
    c = staff_centre(user)
    return centre is not None and c is not None and c.pk == centre.pk


def readable_centres(user) -> QuerySet[Centre]:
    if user.is_superuser or is_monitor(user):
        return Centre.objects.all()
    c = staff_centre(user)
    return Centre.objects.filter(pk=c.pk) if c else Centre.objects.none()


def readable_patients(user) -> QuerySet[Patient]:
    return Patient.objects.filter(centre__in=readable_centres(user))


def get_centre_for_reader(user, centre_code: str) -> Centre:
    """The centre by code if the user may read it; PermissionDenied otherwise (same answer whether or
    not it exists, so codes cannot be probed)."""
    centre = Centre.objects.filter(centre_code=centre_code).first()
    if centre is None or not can_read_centre(user, centre):
        raise PermissionDenied("You cannot see this centre's clinical area.")
    return centre


def get_patient_for_writer(user, centre_code: str, patient_code: str) -> Patient:
    """The patient if the user may change its records; PermissionDenied otherwise."""
    patient = Patient.objects.select_related("centre").filter(
        centre__centre_code=centre_code, patient_code=patient_code).first()
    if patient is None or not can_write_centre(user, patient.centre):
        raise PermissionDenied("You cannot change this patient's records.")
    return patient


def centre_of(obj) -> Centre | None:
    """The centre a record belongs to: a centre itself, a patient's or a record's patient's, a workflow
    row's ``centre``, an audit event's ``centre_code``. Returns the Centre, or None for rows of no centre."""
    if obj is None:
        return None
    if isinstance(obj, Centre):
        return obj
    if isinstance(obj, Patient):
        return obj.centre
    if getattr(obj, "centre_id", None) is not None:
        return obj.centre
    patient = getattr(obj, "patient", None)
    if patient is not None:
        return patient.centre
    code = getattr(obj, "centre_code", "")
    return Centre.objects.filter(centre_code=code).first() if code else None
