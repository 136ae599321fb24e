"""``openhsct user totp``: enrol a person's TOTP authenticator (monitors and administrators need one in
production)."""

from __future__ import annotations

import typer

from openhsct.commands._common import console, django

user_app = typer.Typer(help="User accounts: second-factor enrolment.", no_args_is_help=True)


@user_app.command("totp")
def totp(
    username: str = typer.Argument(..., help="The user to enrol."),
    replace: bool = typer.Option(False, "--replace", help="Replace an enrolled authenticator (the old one stops "
                                 "working)."),
) -> None:
    """Create USERNAME's TOTP authenticator and print its otpauth:// URI, to be added to an authenticator app
    (as a QR code or typed). The URI holds the secret: hand it over in person and do not store it."""
    django()
    from openhsct.site.totp import enrol

    uri = enrol(username, replace=replace)
    console.print(f"Authenticator enrolled for {username}. Add this to their authenticator app:")
    print(uri)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
