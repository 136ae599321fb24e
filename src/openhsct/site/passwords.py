"""The password rules (``AUTH_PASSWORD_VALIDATORS``: at least 12 characters, not a common password, not
all digits, not like the username) applied outside Django's forms, for the command line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from openhsct.errors import OpenHSCTError


def password_problems(password: str, username: str = "") -> list[str]:
    """The rules ``password`` breaks for a user called ``username``. Returns one message per broken rule
    (empty when it is acceptable)."""
    try:
        validate_password(password, user=get_user_model()(username=username))
    except ValidationError as exc:
        return list(exc.messages)
    return []


def require_good_password(password: str, username: str = "") -> None:
    """Raise OpenHSCTError listing the broken rules when ``password`` is not acceptable; return None
    otherwise."""
    problems = password_problems(password, username)
    if problems:
        raise OpenHSCTError("the password was refused", details=problems)
