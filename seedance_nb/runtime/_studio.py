"""Studio: the notebook's one object. Submit from a cell and keep working."""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  its exit hook must be registered before ours
import json
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..api import (
    APIConnectionError,
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    Credits,
    JobStatus,
    LedgerError,
    Request,
    ValidationError,
    WaitTimeoutError,
    check_model,
    check_name,
    estimate_credits,
    from_inputs,
)
from ..ledger import HEARTBEAT, Ledger, Owner, row_fence
from ._engine import DEADLINE, Engine, finish_from_row
from ._fingerprint import LOOPBACK, fingerprint, server_kind
from ._host import Host
from ._job import Job
from ._lifecycle import mirror
from ._listeners import Listeners
from ._progress import Progress, follow
from ._sweep import Sweep

if TYPE_CHECKING:
    import pandas as pd

SIM_CREDITS = 10_000
log = logging.getLogger("seedance_nb")
_OPEN: weakref.WeakSet[Studio] = weakref.WeakSet()  # closed quietly at exit if the user did not


class Studio:
    """Submit requests, follow them, keep their videos and account for every credit.

    With no client and no SEEDANCE_API_KEY it starts the local simulator and says so. The
    ledger and the videos live beside the notebook (``seedance-ledger.sqlite``, ``outputs/``)
    unless given, or set by SEEDANCE_LEDGER and SEEDANCE_OUTPUTS.
    """

    def __init__(
        self,
        client: Client | AsyncClient | None = None,
        ledger: str | os.PathLike[str] | Ledger | None = None,
        experiment: str = "default",
        concurrency: int = 3,
        budget: int | None = None,
        outputs: str | os.PathLike[str] | None = None,
        *,
        poll_interval: float = 5.0,
        uploader: Any = None,
        webhook_url: str | None = None,
        verbose: bool = True,
        deadline: float = DEADLINE,
    ) -> None:
        self.experiment = _experiment(experiment)
        self.verbose = verbose
        self.simulator = None
        self.uploader = uploader
        self.outputs = Path(outputs or os.environ.get("SEEDANCE_OUTPUTS") or "outputs")
        aio = self._connect(client)
        self.base_url = aio.base_url
        self.server = server_kind(aio.base_url)
        if self.simulator is None:
            self._check_key(aio)
        if not isinstance(ledger, Ledger):
            ledger = Ledger(ledger or os.environ.get("SEEDANCE_LEDGER") or "seedance-ledger.sqlite")
        self.ledger = ledger
        if budget is not None:
            self.ledger.set_budget(self.experiment, budget)
        self._jobs: dict[int, Job] = {}
        self._rebuilding = threading.Lock()
        self._adopted_jobs: list[Job] = []
        self._listeners: Listeners[Job] = Listeners()
        self.owner = Owner.new()
        self.ledger.register(self.owner)
        self._replay_journal()
        self._beating = threading.Event()
        self._heart = threading.Thread(target=self._beat, name="seedance-heartbeat", daemon=True)
        self._heart.start()
        self._host = Host()
        self._webhook = None
        callback_url = None
        if webhook_url is not None:
            from ._webhook import Receiver

            self._webhook = Receiver(webhook_url)
            callback_url = self._webhook.url
        self.engine = Engine(
            aio,
            self.ledger,
            owner=self.owner,
            concurrency=concurrency,
            outputs=self.outputs,
            poll_interval=poll_interval,
            uploader=self._upload,
            callback_url=callback_url,
            deadline=deadline,
        )
        self.engine.orphan = self._adopted
        self._check_limit(concurrency)
        history = self.ledger.recent_completions()  # bounded: a start never grows with history
        self._host.block(self._host.submit(self._start(history)))
        _OPEN.add(self)
        left = [r for r in self.ledger.claimable(self.owner) if r["base_url"] == self.base_url]
        if left:
            self._say(
                f"{len(left)} unfinished job(s) in the ledger from an earlier kernel: "
                "studio.resume() re-attaches them."
            )

    def _check_limit(self, concurrency: int) -> None:
        """Say so, in one line, when the account's limit in the ledger is not `concurrency`:
        the limit is the account's, shared by every studio, and a studio never changes it."""
        try:
            stored = self.ledger.account_limit(self.engine.account)
        except Exception as exc:  # a first studio, or a ledger that cannot say: nothing to warn
            log.debug("could not read the account's limit: %s", exc)
            return
        if stored is not None and stored != concurrency:
            message = (
                f"this account runs at most {stored} tasks at once (its limit in the ledger); "
                f"concurrency={concurrency} does not change that (ledger.set_account_limit does)"
            )
            log.warning(message)
            self._say(message)

    def _replay_journal(self) -> None:
        """Record task ids an earlier studio could not write to the ledger (a full disk)."""
        from . import _journal

        try:
            recorded = _journal.replay(self.outputs, self.ledger)
        except Exception as exc:  # the journal stays for the next studio
            log.warning("the journal of unrecorded task ids could not be replayed: %s", exc)
            return
        if recorded:
            self._say(
                f"recorded {len(recorded)} task id(s) from the journal: {', '.join(recorded)}"
            )

    def _beat(self) -> None:
        """Tell the ledger this studio is alive, from a thread of its own: a long cell that
        holds the kernel's loop must not make its rows look abandoned."""
        while not self._beating.wait(HEARTBEAT):
            try:
                self.ledger.beat(self.owner)
            except Exception as exc:  # a full disk: the next beat tries again
                log.warning("studio heartbeat could not be written: %s", exc)

    async def _start(self, history: list[dict[str, Any]]) -> None:
        self.engine.start(history)
        if self._webhook is not None:
            await self._webhook.start(self.engine.hint)

    def _connect(self, client: Client | AsyncClient | None) -> AsyncClient:
        if isinstance(client, Client):
            return client.aio.copy()
        if isinstance(client, AsyncClient):
            return client.copy()
        if client is not None:
            raise ValidationError("client", "must be a seedance_nb Client or AsyncClient")
        if os.environ.get("SEEDANCE_API_KEY"):
            return AsyncClient()
        from .. import simulator

        speed = float(os.environ.get("SEEDANCE_SIM_SPEED", "1.0"))
        # a studio saves every video it is paid for: the simulator renders each one ahead
        self.simulator = simulator.start(speed=speed, credits=SIM_CREDITS, render_ahead=True)
        pace = "" if speed == 1.0 else f"; its clock runs at {speed:g}x the hosted service's"
        self._say(
            f"No SEEDANCE_API_KEY set: using the offline Seedance2 simulator at "
            f"{self.simulator.base_url} (no credits are spent{pace})."
        )
        return AsyncClient(api_key=self.simulator.api_key, base_url=self.simulator.base_url)

    def _check_key(self, aio: AsyncClient) -> None:
        """One credits call before anything else: a refused key fails here, in one line that
        names where it came from, instead of as a failed job later."""
        from ..api import Portal

        portal = Portal("seedance-key-check")
        probe = aio.copy(max_retries=0, timeout=10.0)  # a look, not a wait: jobs retry anyway
        refused: AuthenticationError | None = None
        try:
            balance = portal.call(probe.credits())
        except AuthenticationError as exc:  # the client's own words: what to check, and where
            refused = exc
        except (APIConnectionError, APIError) as exc:  # reachable later, perhaps: jobs queue
            self._say(f"Could not check the account at {self.base_url} yet ({exc}).")
            return
        finally:
            portal.call(probe.aclose())
            portal.close()
        if refused is not None:  # raised here, outside the except block: one short error, no chain
            raise AuthenticationError(refused.status_code, refused.message)
        self._say(f"Connected to {self.base_url}: {balance.available} credits available.")

    def __repr__(self) -> str:
        where = "simulator" if self.server == "simulator" else self.base_url
        return (
            f"Studio({where}, experiment={self.experiment!r}, ledger={str(self.ledger.path)!r}, "
            f"jobs={len(self._jobs)})"
        )

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stdout, flush=True)

    def credits(self) -> Credits:
        """The account's balance, from the server this studio talks to."""
        return self._host.block(self._host.submit(self.engine.client.credits()))

    def reconcile(self) -> pd.DataFrame:
        """What the ledger says was spent against what the account says, since a baseline."""
        return self.ledger.reconcile(self.credits(), base_url=self.base_url)

    # ---- submitting ----------------------------------------------------------------------------
    def submit(
        self,
        req: Request,
        model: str = "seedance2",
        experiment: str | None = None,
        label: str | None = None,
        force: bool = False,
        take: int = 1,
    ) -> Job:
        """Queue a request and return its Job at once.

        Checks come first (request, model, uploads, budget), then the ledger row is written,
        then the job is queued. The same request and take in the same experiment returns the
        earlier job instead of paying again, unless `force=True`; the label never decides.
        `take=2` asks for a second sample of the same request (a generative model gives a
        different video each time); re-running that cell reuses take 2.
        """
        if not isinstance(req, Request):
            raise ValidationError("req", f"must be a request object, not {type(req).__name__}")
        model = check_model(model)
        experiment = _experiment(experiment or self.experiment)
        label = check_name("label", label, label=True)
        if isinstance(take, bool) or not isinstance(take, int) or take < 1:
            raise ValidationError("take", f"must be a whole number from 1; got {take!r}")
        self._check_uploadable(req)
        cost = estimate_credits(req, model)
        fp = self._fingerprint(req, model, take)
        wire = {"model": model, "inputs": req.to_inputs(allow_local=True)}
        params = json.dumps(wire if take == 1 else {**wire, "take": take})
        fields = {
            "experiment": experiment,
            "label": label,
            "model": model,
            "mode": req.mode,
            "prompt": req.prompt,
            "params": params,
            "estimated_credits": cost,
            "status": JobStatus.QUEUED.value,
            "fingerprint": fp,
            "base_url": self.base_url,
            "owner": self.owner.id,
            "account": self.engine.account,
            "user_name": self.engine.user,
        }
        for _ in range(3):  # a dead simulator's row is closed, then the lookup runs again
            # the lookup, the budget check and the insert are one write transaction
            row_id, earlier = self.ledger.log_once(force=force, enforce_budget=True, **fields)
            if earlier is None:
                break
            job = self._reuse(earlier)
            if job is not None:
                self._reused(job)
                return job
        else:  # pragma: no cover - three dead rows in a row would need three races
            raise RuntimeError("could not settle an earlier row of this request")
        job = self._track(Job(self._host, row_id, req, model, experiment, label, cost, fp))
        job.take = take
        self._host.soon(self.engine.enqueue, job)
        left = self.ledger.remaining(experiment)
        budget = f"; {left} left of the budget" if left is not None else ""
        self._say(f"job #{row_id} queued: {req.mode} on {model}, estimated {cost} credits{budget}")
        return job

    def _fingerprint(self, req: Request, model: str, take: int) -> str:
        """The request's fingerprint; local files are hashed on a worker thread, so a large
        file never stalls the kernel's loop (where the other jobs are polled)."""
        if not req.local_files():
            return fingerprint(req, model, self.base_url, take)
        import asyncio

        async def off_loop() -> str:
            return await asyncio.to_thread(fingerprint, req, model, self.base_url, take)

        return self._host.block(self._host.submit(off_loop()))

    def variations(
        self,
        req: Request,
        n: int = 4,
        model: str = "seedance2",
        experiment: str | None = None,
        label: str | None = None,
    ) -> list[Job]:
        """Takes 1..n of one request (re-running the cell reuses them and spends nothing)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 12:
            raise ValidationError("n", f"must be a whole number of takes from 1 to 12; got {n!r}")
        return [
            self.submit(req, model, experiment, f"{label or 'take'} {i}", take=i)
            for i in range(1, n + 1)
        ]

    def _reused(self, job: Job) -> None:
        """`submit` handed back an earlier job: nothing was spent (the notebook's views say so
        on its card)."""

    def _reuse(self, row: dict[str, Any]) -> Job | None:
        """The job for an earlier row of the same request, so a re-run pays nothing again.

        None when that row can never finish (its simulator died with its kernel): it is
        closed, and the caller writes a new one.
        """
        held = self._jobs.get(row["id"])
        status = JobStatus(row["status"])
        note = f"job #{row['id']} already has this request in {row['experiment']!r}"
        if held is not None:
            self._say(f"{note} ({held.status}); reusing it. force=True sends it again.")
            return held
        if status.final and status is not JobStatus.DOWNLOAD_FAILED:
            job = self._job(row)
            if job is None:
                return None
            finish_from_row(job, row)
            if status is JobStatus.COMPLETED:
                self._say(f"{note} (COMPLETED); reusing it. force=True sends it again.")
            else:
                self._say(
                    f"{note}; it ended {status}: {row['error'] or 'no reason given'}. It was "
                    "not sent again, since it may have run; force=True sends it again."
                )
            return job
        claimed = self.ledger.claim(row["id"], self.owner)
        if claimed is None:  # a live studio elsewhere moves it on: follow its row
            job = self._job(row)
            if job is None:
                return None
            self._host.soon(self.engine.follow, job)
            self._say(f"{note}, and another running studio is on it; following that.")
            return job
        if not self._continuable(claimed):
            return None
        job = self._job(claimed)
        if job is None:
            return None
        self._host.soon(self.engine.take_over, job, claimed)
        self._say(f"{note} ({status}); picking it up. force=True sends it again.")
        return job

    def _continuable(self, row: dict[str, Any]) -> bool:
        """Whether this studio can carry a claimed row on; closes the row of a dead simulator."""
        if row["base_url"] == self.base_url or row["status"] == JobStatus.QUEUED.value:
            return True
        if (urlsplit(row["base_url"] or "").hostname or "") in LOOPBACK:
            self.ledger.write(
                row["id"],
                row_fence(row),
                status=JobStatus.FAILED.value,
                error="its simulator stopped with the kernel that ran it",
            )
            return False
        return True

    def _check_uploadable(self, req: Request) -> None:
        local = req.local_files()
        if (
            local
            and self.simulator is None
            and self.uploader is None
            and self.server != "simulator"
        ):
            raise ValidationError(
                local[0][0],
                "is a local file, and the hosted API accepts only URLs. Set studio.uploader to "
                "a function path -> public URL (for example an upload to your own bucket), or "
                "pass an http(s) URL or an asset:// reference instead",
            )

    async def _upload(self, path: Path, kind: str) -> str:
        if self.uploader is not None:
            import asyncio

            return str(await asyncio.to_thread(self.uploader, path))
        return await self.engine.client.upload_asset(path)

    def sweep(
        self,
        prompts: Sequence[str],
        durations: Sequence[int | str] = (5,),
        models: Sequence[str] = ("seedance2",),
        resolutions: Sequence[str | None] = ("1280x720",),
        upscales: Sequence[str | None] = (None,),
        *,
        experiment: str | None = None,
        confirm: bool = False,
        make: Any = None,
    ) -> Sweep:
        """Plan the cross product of the given variants and show its total estimate.

        It is submitted at once when `confirm=True` or when the experiment has a budget that
        covers it; otherwise call `.submit()` on the result after looking at `.plan`.
        `make(prompt, duration, resolution, upscale) -> Request` builds other modes.
        """
        from ._sweep import build

        experiment = _experiment(experiment or self.experiment)
        plan = build(self, experiment, prompts, durations, models, resolutions, upscales, make)
        remaining = self.ledger.remaining(experiment)
        if confirm or (remaining is not None and plan.total <= remaining):
            plan.submit()
        return plan

    # ---- following -----------------------------------------------------------------------------
    @property
    def jobs(self) -> list[Job]:
        """The jobs this studio holds, oldest first."""
        return list(self._jobs.values())

    def wait(self, jobs: list[Job] | None = None, timeout: float | None = None) -> list[Job]:
        """Block until the given jobs (default: all) have ended; errors stay on each job.

        Safe in a notebook cell: the wait lets the kernel's loop run the jobs meanwhile.
        Raises sd.WaitTimeoutError if `timeout` seconds pass first (the jobs go on).
        """
        jobs = self.jobs if jobs is None else list(jobs)
        progress = None
        if self.verbose and any(not j.done for j in jobs):
            progress = Progress(jobs, self.engine.concurrency)
        try:
            self._host.block(self._host.submit(follow(jobs, timeout, progress)))
        finally:
            if progress is not None:
                progress.close()
        late = [j for j in jobs if not j.done]
        if late:
            raise WaitTimeoutError(
                f"of {len(late)} job(s) (#{', #'.join(str(j.id) for j in late)})",
                late[0].task,
                timeout or 0.0,
            )
        return jobs

    def resume(self) -> list[Job]:
        """Take over every row a gone studio left: unsent, in flight, or paid and not saved.

        Rows of studios still running (in this process or another) are never touched. A job
        caught while createTask was in flight is not sent again: it may exist, so it ends
        SEND_FAILED with an explanation instead of risking a second payment.
        """
        jobs: list[Job] = []
        for row in self.ledger.claimable(self.owner):
            if row["id"] in self._jobs:
                continue
            if row["base_url"] != self.base_url and (
                (urlsplit(row["base_url"] or "").hostname or "") not in LOOPBACK
            ):
                continue  # another server's row: a studio on that server resumes it
            claimed = self.ledger.claim(row["id"], self.owner)
            if claimed is None or not self._continuable(claimed):
                continue
            job = self._job(claimed)
            if job is None or job in jobs:
                continue
            self._host.soon(self.engine.take_over, job, claimed)
            jobs.append(job)
        with self._rebuilding:  # and those the engine adopted on its own meanwhile
            jobs += [j for j in self._adopted_jobs if j not in jobs]
            self._adopted_jobs = []
        jobs.sort(key=lambda j: j.id)
        if jobs:
            self._say(f"resumed {len(jobs)} job(s)")
        return jobs

    def _adopted(self, row: dict[str, Any]) -> Job | None:
        """A sent row whose studio died, claimed by the engine: follow it here to the end."""
        with self._rebuilding:  # one step, so resume() sees it held only once it is listed
            job = self._jobs.get(row["id"]) or self._rebuild(row)
            if job is not None:
                self._adopted_jobs.append(job)
        if job is not None:
            log.info("adopted job #%s (task %s) from a studio that stopped", job.id, job.task_id)
        return job

    def _job(self, row: dict[str, Any]) -> Job | None:
        """The Job of a ledger row: the one this studio holds already, else one rebuilt from
        the row (None if its request can no longer be rebuilt). One Job per row, whichever
        thread asks (resume in a cell, adoption on the loop)."""
        with self._rebuilding:
            held = self._jobs.get(row["id"])
            return held if held is not None else self._rebuild(row)

    def _rebuild(self, row: dict[str, Any]) -> Job | None:
        params = json.loads(row["params"])
        try:
            req = from_inputs(params["inputs"], allow_local=True)
        except ValidationError as exc:
            if row["owner"] == self.owner.id:  # never another studio's row
                self.ledger.write(
                    row["id"],
                    row_fence(row),
                    status=JobStatus.FAILED.value,
                    error=f"cannot rebuild: {exc}",
                )
            return None
        job = Job(
            self._host,
            row["id"],
            req,
            row["model"],
            row["experiment"],
            row["label"],
            row["estimated_credits"],
            row["fingerprint"],
        )
        job.take = int(params.get("take", 1))
        job.task_id = row["task_id"]
        job.apply(mirror(row))
        job.settled = row.get("settled")  # what the balance said of an unclear send
        job.sent = row["sent_at"].timestamp() if row.get("sent_at") else None
        job.local_path = Path(row["local_path"]) if row.get("local_path") else None
        return self._track(job)

    def _track(self, job: Job) -> Job:
        """Hold the job here, bound to the engine, so every job this studio hands back (a
        re-run's reused job too) can `download()` and `cancel()`."""
        job.bind(cancel=self.engine._cancel, fetch=self.engine.fetch)
        job._resender = self._resend
        job.show_progress = self.verbose
        self._jobs[job.id] = job
        job.on_update(self._job_changed)
        return job

    def _resend(self, job: Job) -> Job:
        """`job.resend()`: the same request as a new row (its checks and budgets apply)."""
        return self.submit(job.request, job.model, job.experiment, job.label, True, job.take)

    def _job_changed(self, job: Job) -> None:
        for listener in self._listeners:
            listener(job)

    def on_job_update(
        self, callback: Callable[[Job], Any], *, remove: bool = False
    ) -> Callable[[], None]:
        """Call `callback(job)` whenever any job of this studio changes. Returns a function
        that unsubscribes it; `remove=True` unsubscribes instead (harmless if absent)."""
        return self._listeners.subscribe(callback, remove=remove)

    def results(self, experiment: str | None = None) -> pd.DataFrame:
        """Votes from comparisons as a table: wins, losses, win rate and a ranking.

        The ranking uses Bradley-Terry strengths, which account for who beat whom, so it stays
        fair when variants met different opponents.
        """
        from ._results import results

        return results(self.ledger, _experiment(experiment or self.experiment))

    # ---- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop polling, close connections, stop the simulator this studio started.

        Unfinished rows stay in the ledger, free for `resume()` in another studio at once.
        """
        if self._beating.is_set():
            return
        self._beating.set()
        _OPEN.discard(self)
        lost: LedgerError | None = None
        try:
            if self._webhook is not None:
                self._host.block(self._host.submit(self._webhook.stop()), 10)
            self._host.block(self._host.submit(self.engine.aclose()), 15)
            lost = self._journal(self.engine.unrecorded)
        finally:
            self._host.close()
            self._heart.join(timeout=5)
            try:
                self.ledger.retire(self.owner)
            except Exception as exc:  # its heartbeat lapses instead
                log.warning("could not retire this studio's owner row: %s", exc)
            self.ledger.close()
            if self.simulator is not None:
                self.simulator.stop()
        if lost is not None:
            raise lost

    def _journal(self, unrecorded: list[Any]) -> LedgerError | None:
        """Keep writes the ledger would not take beside the outputs; the error naming every
        task id among them (None when there are none)."""
        if not unrecorded:
            return None
        from . import _journal

        ids = [str(f["task_id"]) for _, _, f in unrecorded if f.get("task_id")]
        try:
            where = f"they are kept in {_journal.write(self.outputs, unrecorded)}"
        except OSError as exc:
            where = f"the journal could not be written either ({exc}): note them now"
        log.warning("unrecorded ledger writes at close: %s", unrecorded)
        if not ids:
            return None
        return LedgerError(
            str(self.ledger.path),
            f"could not record task id(s) {', '.join(ids)} after retrying; {where}, and the "
            "next studio on these outputs records them",
        )

    def __enter__(self) -> Studio:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- long shots ----------------------------------------------------------------------------
    def sequence(self, shots: Sequence[Any], *, confirm: bool = False, **options: Any) -> Any:
        """Shots past 15 s, each from the last frame of the one before (see seedance_nb.longshot).

        Shows the chain's plan and estimate; runs it at once when `confirm=True` or its budget
        covers the estimate, else call `.run()` on the result after looking at `.plan`.
        """
        from ..longshot import Sequence as Chain

        chain = Chain(self, shots, **options)
        self._say(chain.describe())
        if confirm or (chain.budget is not None and chain.total <= chain.budget):
            chain.run()
        else:
            self._say("nothing sent yet: .plan shows it shot by shot, .run() sends it.")
        return chain


def _close_open_studios() -> None:
    """A script that ends without `studio.close()` exits quietly, its rows left for resume.

    Registered to run when the interpreter starts shutting threads down, before the default
    thread pool (which the studio's ledger writes use) refuses new work; plain atexit would
    come too late for that. Threading runs these hooks newest first, so the pool's module is
    imported above, registering its own hook before ours."""
    for studio in list(_OPEN):
        try:
            studio.close()
        except Exception:  # exiting anyway: say nothing more than the log does
            log.debug("closing a studio at exit failed", exc_info=True)


_register = getattr(threading, "_register_atexit", atexit.register)
_register(_close_open_studios)


def _experiment(name: object) -> str:
    checked = check_name("experiment", name)
    assert checked is not None
    return checked
