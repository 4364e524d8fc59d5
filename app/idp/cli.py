"""`flask idp …`: register applications that may use "Sign in with PayLab ID"."""
import json

import click
from flask.cli import AppGroup

from . import services

idp_cli = AppGroup("idp", help="Identity provider commands.")


@idp_cli.command("create-client")
@click.option("--name", required=True, help="Shown to users on the consent screen")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="An exact redirect URI (repeat for more)")
@click.option("--scope", default="openid profile email", show_default=True)
def create_client_command(name, redirect_uris, scope):
    """Register an OpenID Connect client; prints {client_id, client_secret} (the secret only this once)."""
    try:
        client, secret = services.create_client(name, redirect_uris, scope)
    except services.IdpError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret,
                           "redirect_uris": client.redirect_uris}))
