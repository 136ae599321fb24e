"""Creating users with a role (service functions: one state change each)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from openhsct.errors import OpenHSCTError
from openhsct.registry.models import Centre, Membership


@transaction.atomic
def ensure_user(username: str, password: str, *, role: str, centre_code: str | None = None):
    """Create or update ``username`` with ``role`` (staff/monitor/admin). Returns the user."""
    if role not in {"staff", "monitor", "admin"}:
        raise OpenHSCTError(f"--role {role!r}: use staff, monitor or admin")
    centre = None
    if role == "staff":
        if not centre_code:
            raise OpenHSCTError("centre staff need --centre CODE")
        centre = Centre.objects.filter(centre_code=centre_code).first()
        if centre is None:
            raise OpenHSCTError(f"no centre with code {centre_code!r}")
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = True  # may open the data-entry admin; what they see is scoped by role
    user.is_superuser = role == "admin"
    user.save()
    if role == "admin":
        Membership.objects.filter(user=user).delete()
    else:
        Membership.objects.update_or_create(user=user, defaults={"role": role, "centre": centre})
    return user
