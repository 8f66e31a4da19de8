"""`seedance-nb report`: the ledger's spend report in a terminal, or as an HTML page."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ._app import ledger_option


@click.command()
@click.option(
    "--period",
    type=click.Choice(["month", "week", "day"]),
    default=None,
    help="only rows submitted since this calendar period began (UTC) [default: everything]",
)
@click.option(
    "--by",
    default="user,experiment",
    show_default=True,
    help="group by these, comma-separated ('user' or any ledger column)",
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="write an HTML page")
@click.option(
    "--balance/--no-balance",
    default=None,
    help="check the account's balance against the ledger [default: when SEEDANCE_API_KEY is set]",
)
@ledger_option
def report(
    period: str | None, by: str, html_path: str | None, balance: bool | None, ledger: str
) -> None:
    """Who spent what, on what, and is the video here: credits estimated, charged, refused and
    lost (paid, no video), and the videos on disk, checked now. Reads only (a balance check
    records a starting balance the first time)."""
    if "://" not in ledger and not Path(ledger).is_file():
        raise click.ClickException(
            f"no ledger at {ledger}: pass --ledger or set SEEDANCE_LEDGER to the notebooks' one"
        )
    from ..api import Client
    from ..ledger import Ledger
    from ..ledger._report import page

    keys = tuple(k.strip() for k in by.split(",") if k.strip())
    use_balance = bool(os.environ.get("SEEDANCE_API_KEY")) if balance is None else balance
    book = Ledger(ledger)
    try:
        client = Client() if use_balance else None
        try:
            table = book.report(period, keys, credits=client)
            if html_path:  # the page of this table: the ledger and balance are read once
                Path(html_path).write_text(
                    page(table, table.attrs.get("balance")), encoding="utf-8"
                )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        finally:
            if client is not None:
                client.close()
    finally:
        book.close()
    click.echo(table.to_string())
    check = table.attrs.get("balance")
    if check is not None:
        click.echo("\n" + check.to_string())
        if "note" in check.attrs:
            click.echo(check.attrs["note"])
            click.echo(check.attrs["rows"].to_string())
    if html_path:
        click.echo(f"\nwritten: {html_path}")


__all__ = ["report"]
