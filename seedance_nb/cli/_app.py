"""The `seedance-nb` commands: sweep, status, resume, download, simulator."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from ..api import BudgetExceededError, JobStatus, SeedanceError, ValidationError
from . import _plan
from ._follow import Follower, shown_path, summary

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..runtime import Job, Studio

F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C

# piped or captured output has no width of its own: wide enough that a table stays one row a job
console = Console(
    highlight=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160,
)


# --ledger: the notebooks' own ledger unless told otherwise (every command that reads one)
ledger_option = click.option(
    "--ledger",
    envvar="SEEDANCE_LEDGER",
    default="seedance-ledger.sqlite",
    show_default=True,
    help="the ledger file the notebooks use too [env SEEDANCE_LEDGER]",
)


def ledger_options(fn: F) -> F:
    """--ledger and --outputs, defaulting to the notebooks' own (SEEDANCE_LEDGER, ...)."""
    fn = click.option(
        "--outputs",
        envvar="SEEDANCE_OUTPUTS",
        default="outputs",
        show_default=True,
        type=click.Path(file_okay=False),
        help="folder for the videos [env SEEDANCE_OUTPUTS]",
    )(fn)
    return ledger_option(fn)


def studio_options(fn: F) -> F:
    """How the studio talks to the server."""
    fn = click.option(
        "--poll-interval",
        type=click.FloatRange(min=0.01),
        default=5.0,
        show_default=True,
        help="longest wait between queries of a running task, in seconds",
    )(fn)
    return click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=3,
        show_default=True,
        help="jobs sent at once (the API allows 3 per account); the rest wait locally",
    )(fn)


def friendly(fn: F) -> F:
    """Show the toolkit's own errors as one line that says what to do, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            raise click.UsageError(str(exc)) from None
        except SeedanceError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def open_studio(
    ledger: str, outputs: str, experiment: str, concurrency: int, poll_interval: float
) -> Studio:
    """A studio on the notebooks' ledger and outputs; the server from SEEDANCE_API_KEY and
    SEEDANCE_BASE_URL, else an in-process simulator (said so, since its tasks end with it)."""
    from ..runtime import Studio

    studio = Studio(
        ledger=ledger,
        outputs=Path(outputs).resolve(),  # absolute in the ledger: notebooks elsewhere find them
        experiment=experiment,
        concurrency=concurrency,
        poll_interval=poll_interval,
        verbose=False,
    )
    if studio.simulator is not None:
        console.print(
            "[yellow]No SEEDANCE_API_KEY set:[/] using an in-process simulator (no credits "
            "spent); its tasks end with this command. For runs that `resume` can finish, start "
            "`seedance-nb simulator` and set SEEDANCE_BASE_URL and SEEDANCE_API_KEY."
        )
    return studio


# ---- the group ---------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seedance-nb", prog_name="seedance-nb")
def cli() -> None:
    """Seedance 2.0 from a terminal, on the same ledger and outputs as the notebooks.

    The server is the hosted API when SEEDANCE_API_KEY is set (SEEDANCE_BASE_URL for another
    one), else a local simulator that spends nothing.
    """


# ---- sweep -------------------------------------------------------------------------------------
@cli.command()
@click.argument("prompts_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--durations", default="5", show_default=True, help="seconds, comma-separated")
@click.option("--models", default="seedance2", show_default=True, help="comma-separated")
@click.option("--resolution", default="1280x720", show_default=True)
@click.option(
    "--takes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="samples of each request (re-runs reuse them)",
)
@click.option("--experiment", help="ledger experiment [default: the prompts file's name]")
@click.option(
    "--budget",
    type=click.IntRange(min=0),
    help="set the experiment's credit budget; nothing is sent past it",
)
@click.option("--yes", "-y", is_flag=True, help="send without asking")
@ledger_options
@studio_options
@friendly
def sweep(
    prompts_file: str,
    durations: str,
    models: str,
    resolution: str,
    takes: int,
    experiment: str | None,
    budget: int | None,
    yes: bool,
    ledger: str,
    outputs: str,
    concurrency: int,
    poll_interval: float,
) -> None:
    """Generate every prompt x duration x model x take in PROMPTS_FILE (one prompt a line).

    Shows the plan and its credits and asks before sending (unless --yes). Requests already in
    the experiment are reused, not paid again. Ctrl-C sends nothing more and keeps following
    what was sent; a second Ctrl-C leaves those to `seedance-nb resume`.
    """
    stem, prompts = _plan.prompts_file(prompts_file)
    items = _plan.build(
        prompts,
        _plan.durations_of(durations),
        _plan.split_list(models, "--models"),
        takes,
        resolution,
    )
    experiment = experiment or stem
    studio = open_studio(ledger, outputs, experiment, concurrency, poll_interval)
    try:
        code = _sweep(studio, items, experiment, budget, yes, concurrency)
    finally:
        studio.close()
    sys.exit(code)


def _sweep(
    studio: Studio,
    items: list[_plan.Item],
    experiment: str,
    budget: int | None,
    yes: bool,
    slots: int,
) -> int:
    rows = studio.ledger.rows(experiment=experiment, base_url=studio.base_url)
    reusable = [r for r in rows if JobStatus(r["status"]).reusable]
    done = _plan.already_done(items, reusable)
    new_cost = sum(item.credits for i, item in enumerate(items) if i not in done)
    _show_plan(items, done, experiment)
    committed = studio.ledger.committed(experiment)
    remaining = budget - committed if budget is not None else studio.ledger.remaining(experiment)
    if remaining is not None:
        console.print(f"budget of {experiment!r}: {max(remaining, 0)} credits left")
        if new_cost > remaining:
            console.print(
                f"[red]Over budget:[/] the new jobs need {new_cost} credits and "
                f"{max(remaining, 0)} are left. Raise it with --budget, or plan fewer jobs."
            )
            return 1
    if (
        not yes
        and len(done) < len(items)
        and not click.confirm(
            f"Send {len(items) - len(done)} new job(s) for {new_cost} credits?", default=False
        )
    ):
        console.print("Nothing sent.")
        return 1
    if budget is not None:
        studio.ledger.set_budget(experiment, budget)
    left = studio.ledger.claimable(studio.owner)
    if left:
        console.print(
            f"{len(left)} unfinished job(s) from an earlier run are not part of this sweep: "
            "`seedance-nb resume` finishes them."
        )
    with Follower(studio, console, slots, f"sweep {experiment}") as follower:
        unsent = 0
        for i, item in enumerate(items):
            if follower.interrupted:
                unsent = len(items) - i
                break
            try:
                job = studio.submit(
                    item.request, item.model, experiment, item.label, take=item.take
                )
            except BudgetExceededError as exc:
                unsent = len(items) - i
                follower.print(f"[red]Stopped sending:[/] {exc}")
                break
            follower.add(job)
        note = f"; {unsent} planned job(s) not submitted" if unsent else ""
        follower.follow(note)
    jobs = list(dict.fromkeys(follower.jobs))
    summary(console, jobs, f"sweep {experiment}")
    if follower.interrupted or unsent:
        rest = len(follower.cancelled) + unsent
        if rest:
            console.print(
                f"{rest} planned job(s) were not sent: run the same command again to send "
                "them (what is done is reused, nothing is paid twice)."
            )
        if follower.left:
            return INTERRUPTED
        return INTERRUPTED if follower.interrupted else 1
    return 0 if all(j.status is JobStatus.COMPLETED for j in jobs) else 1


def _show_plan(items: Sequence[_plan.Item], done: set[int], experiment: str) -> None:
    table = Table(title=f"plan for experiment {experiment!r}", title_justify="left")
    for name, justify in [
        ("label", "left"),
        ("model", "left"),
        ("secs", "right"),
        ("take", "right"),
        ("credits", "right"),
        ("prompt", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, item in enumerate(items):
        table.add_row(
            item.label,
            item.model,
            str(item.request.seconds),
            str(item.take),
            "reused" if i in done else str(item.credits),
            _short(item.request.prompt or ""),
        )
    console.print(table)
    total = sum(item.credits for i, item in enumerate(items) if i not in done)
    reused = f", {len(done)} already in the ledger (reused, free)" if done else ""
    console.print(f"[bold]{len(items)} job(s){reused}: {total} credits to send[/]")


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- resume and download -----------------------------------------------------------------------
@cli.command()
@ledger_options
@studio_options
@friendly
def resume(ledger: str, outputs: str, concurrency: int, poll_interval: float) -> None:
    """Finish whatever a stopped run left: send what was never sent, follow tasks still
    running, save paid videos not on disk. Nothing already sent is sent again."""
    studio = open_studio(ledger, outputs, "default", concurrency, poll_interval)
    try:
        jobs = studio.resume()
        if not jobs:
            console.print(
                "Nothing to resume: every job in the ledger has ended or has a live owner."
            )
            code = 0
        else:
            code = _follow(studio, jobs, "resume", concurrency)
    finally:
        studio.close()
    sys.exit(code)


@cli.command()
@click.option("--experiment", help="only this experiment")
@ledger_options
@studio_options
@friendly
def download(
    experiment: str | None, ledger: str, outputs: str, concurrency: int, poll_interval: float
) -> None:
    """Fetch every paid video that is not on disk: rows whose download failed, and completed
    rows whose file is gone. The task is asked for a fresh link first; nothing is sent."""
    studio = open_studio(ledger, outputs, experiment or "default", concurrency, poll_interval)
    try:
        code = _download(studio, experiment, concurrency)
    finally:
        studio.close()
    sys.exit(code)


def _download(studio: Studio, experiment: str | None, concurrency: int) -> int:
    # EXPIRED is paid and gone for good: never fetched again
    where: dict[str, Any] = {"status": [JobStatus.COMPLETED.value, JobStatus.DOWNLOAD_FAILED.value]}
    if experiment:
        where["experiment"] = experiment
    needed, missing = [], 0
    for row in studio.ledger.rows(**where):
        status = JobStatus(row["status"])
        if status is JobStatus.COMPLETED and not _on_disk(row.get("local_path")):
            # COMPLETED means a decodable file is on disk: this one is paid and not on disk.
            # Claimed for a fetch (DOWNLOADING at once), unless a live studio is fetching it.
            if studio.ledger.claim(row["id"], studio.owner, fetch=True) is not None:
                missing += 1
                needed.append(row["id"])
        elif status is JobStatus.DOWNLOAD_FAILED:
            needed.append(row["id"])
    if not needed:
        console.print("Every paid video is on disk.")
        return 0
    unsent = [
        r
        for r in studio.ledger.claimable(studio.owner)
        if JobStatus(r["status"]) is JobStatus.QUEUED
    ]
    if unsent:
        console.print(
            f"[red]{len(unsent)} job(s) from a stopped run were never sent.[/] `download` sends "
            "nothing: `seedance-nb resume` sends them and fetches every video."
        )
        return 1
    gone = f" ({missing} whose file was deleted)" if missing else ""
    console.print(f"Fetching {len(needed)} paid video(s) not on disk{gone}.")
    jobs = studio.resume()  # takes paid-but-unsaved rows, and whatever a stopped run left
    code = _follow(studio, jobs, "download", concurrency) if jobs else 0
    held = {j.id for j in jobs}
    for row_id in needed:
        if row_id in held:
            continue
        row = studio.ledger.get(row_id)
        console.print(
            f"[red]#{row_id} {row['status']}[/]: {row.get('error') or 'not fetched'}"
            + (
                f" (it was made on {row['base_url']}; this studio talks to {studio.base_url})"
                if row["base_url"] != studio.base_url
                else ""
            )
        )
        code = code or 1
    return code


def _on_disk(path: str | None) -> bool:
    return bool(path) and Path(path).is_file()  # type: ignore[arg-type]


def _follow(studio: Studio, jobs: list[Job], title: str, slots: int) -> int:
    with Follower(studio, console, slots, title) as follower:
        for job in jobs:
            follower.add(job)
        follower.follow("")
    summary(console, jobs, title)
    if follower.interrupted:
        return INTERRUPTED
    return 0 if all(j.status is JobStatus.COMPLETED for j in jobs) else 1


# ---- status ------------------------------------------------------------------------------------
@cli.command()
@click.option("--experiment", help="only this experiment")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="how many of the latest jobs",
)
@ledger_option
@friendly
def status(experiment: str | None, limit: int, ledger: str) -> None:
    """The ledger's latest jobs as a table, with the credits they took. Reads only."""
    if "://" not in ledger and not Path(ledger).is_file():
        raise click.ClickException(
            f"no ledger at {ledger}: pass --ledger or set SEEDANCE_LEDGER to the notebooks' one"
        )
    from ..ledger import Ledger

    book = Ledger(ledger)
    try:
        _status(book, experiment, limit)
    finally:
        book.close()


def _status(book: Ledger, experiment: str | None, limit: int) -> None:
    shown = book.latest(limit, experiment)  # reads `limit` rows, however long the ledger
    total = book.count(experiment)
    wins = _wins(book, experiment)
    table = Table(
        title=f"{len(shown)} of {total} job(s)" + (f" in {experiment!r}" if experiment else ""),
        title_justify="left",
    )
    columns = ["id", "experiment", "label", "model", "status", "credits"]
    columns += ["wins"] if wins else []
    columns += ["submitted", "video / error"]
    for name in columns:
        table.add_column(
            name,
            justify="right" if name in ("id", "credits", "wins") else "left",
            no_wrap=name != "video / error",
            overflow="fold" if name == "video / error" else "ellipsis",
            min_width=24 if name == "video / error" else None,
        )
    colours = {"ok": "green", "bad": "red", "muted": "yellow", "busy": "cyan"}  # by tone
    for row in shown:
        st = JobStatus(row["status"])
        used = row.get("credits_used")
        path = row.get("local_path")
        if st is JobStatus.COMPLETED:
            where = shown_path(path) if _on_disk(path) else f"missing {shown_path(path)}"
        else:
            where = row.get("error") or ""
        submitted = row.get("submitted_at")
        cells = [
            str(row["id"]),
            row["experiment"],
            row.get("label") or "",
            row.get("model") or "",
            f"[{colours[st.tone]}]{st}[/]",
            str(used) if used is not None else f"~{row['estimated_credits']}",
        ]
        cells += [str(wins.get(row["id"], ""))] if wins else []
        cells += [submitted.astimezone().strftime("%m-%d %H:%M") if submitted else "", where]
        table.add_row(*cells)
    console.print(table)
    spent = book.spent(experiment)
    committed = book.committed(experiment)
    running = sum(1 for r in book.unfinished() if experiment in (None, r["experiment"]))
    console.print(
        f"{spent} credits spent; {committed - spent} more held by {running} unfinished job(s)"
        if running
        else f"{spent} credits spent"
    )
    completed = JobStatus.COMPLETED.value
    if any(r["status"] == completed and not _on_disk(r.get("local_path")) for r in shown):
        console.print("Some videos are missing from disk: `seedance-nb download` fetches them.")


def _wins(book: Ledger, experiment: str | None) -> dict[int, int]:
    """How many ballots each row won in a comparison."""
    try:
        votes = book.votes(experiment)
    except ImportError:  # pandas is not installed: no votes column
        return {}
    ballots = votes.drop_duplicates("ballot")
    return {int(k): int(v) for k, v in ballots["winner"].value_counts().items()}


# ---- simulator ---------------------------------------------------------------------------------
@cli.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulator(args: tuple[str, ...]) -> None:
    """Run the local simulator (`seedance-nb simulator --help` lists its options)."""
    from ..simulator.__main__ import main

    main(list(args))


cli.add_command(importlib.import_module("seedance_nb.cli._sequence").sequence)  # long shots


def main(argv: list[str] | None = None) -> None:
    """The console script's entry point."""
    cli.main(args=argv, prog_name="seedance-nb")


from ._report import report  # noqa: E402  (its own module; registered on the group here)

cli.add_command(report)
