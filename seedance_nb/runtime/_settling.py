"""The I/O of settling an unclear send (a mixin of `Engine`): the readings of the account and
the waits between them. What they mean is decided in `_settle` (pure, no clock of its own).

A reading is the account's balance between two ledger pictures of its other rows, so each row
is known to have been in a state before the balance was read, or still in one after. After an
unclear send the job keeps its row (SENDING) and its slot while it waits: the lost task may be
on the server, holding one of the account's slots. The engine looks at the ledger every
`spacing` (cheap), and reads the balance again only when a row the verdict waits on has moved,
or when `_settle.decide` asks for a time; waits are scaled by the server's declared pace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from . import _settle as settle

if TYPE_CHECKING:
    from ._engine import Engine, Track
    from ._job import Job

KEEP = 8  # later readings kept for a verdict (the first and the newest)


class Settling:
    """Readings of the account around a send, and waiting for a verdict."""

    settle_grace: float = settle.GRACE
    settle_limit: float = settle.LIMIT

    async def _picture(
        self: Engine, job: Job, since: int | None
    ) -> tuple[int, int, dict[int, settle.Row]]:
        top, newest, rows = await asyncio.to_thread(
            self.ledger.account_moves, self.account, job.id, since, settle.LOST
        )
        return top, newest, {rid: settle.Row(*row) for rid, row in rows.items()}

    async def _balance(self: Engine) -> tuple[int | None, int | None]:
        try:  # one try: a reading that fails is taken again later, never on createTask's path
            balance = await self.client.credits(retry=False)
            return int(balance.available), int(balance.credits)
        except Exception:  # the balance cannot settle anything this time
            return None, None

    async def _reading(
        self: Engine, job: Job, since: int | None = None, ended: float | None = None
    ) -> settle.Reading:
        """The account's balance between two ledger pictures of its other rows (`_settle`);
        `ended`: the monotonic time the send ended (None: this is the reading before it)."""
        top, _, first = await self._picture(job, since)
        available, credits = await self._balance()
        _, newest, last = await self._picture(job, since)
        at = -1.0 if ended is None else time.monotonic() - ended
        return settle.Reading(available, credits, first, last, top, newest, at)

    async def _before_send(
        self: Engine, job: Job
    ) -> tuple[int, dict[int, settle.Row], int | None, int | None]:
        """The first half of the reading before a send: the rows, then the balance. It runs
        beside the row's QUEUED -> SENDING write; the rows' second picture is taken beside
        createTask itself (`_send_reading`), so the send waits only on the GET."""
        try:
            top, _, first = await self._picture(job, None)
        except Exception:  # no picture: the balance settles nothing this time
            return 0, {}, None, None
        available, credits = await self._balance()
        return top, first, available, credits

    async def _send_reading(
        self: Engine,
        job: Job,
        create: Coroutine[Any, Any, str],
        half: tuple[int, dict[int, settle.Row], int | None, int | None],
    ) -> tuple[str | BaseException, settle.Reading]:
        """createTask's answer (or what it raised), and the reading before it, completed by the
        rows' second picture taken while createTask is on its way (after the balance)."""

        async def sent() -> str | BaseException:
            try:
                return await create
            except Exception as exc:
                return exc

        async def rows() -> tuple[int, dict[int, settle.Row]] | None:
            try:
                _, newest, last = await self._picture(job, None)
            except Exception:
                return None
            return newest, last

        result, second = await asyncio.gather(sent(), rows())
        top, first, available, credits = half
        if second is None:
            return result, settle.Reading(None, None)
        return result, settle.Reading(available, credits, first, second[1], top, second[0], -1.0)

    def _paced(self: Engine, seconds: float) -> float:
        speed = self.client.server_speed
        return seconds * speed if speed else seconds

    async def _settle(
        self: Engine, track: Track, before: settle.Reading, cause: BaseException | None
    ) -> settle.Settlement:
        """Read the account until the verdict on an unclear send is clear, or its time is up.
        createTask is never sent again here: only the balance and the ledger are read."""
        job = track.job
        if before.available is None:  # nothing to compare a later reading with
            return settle.decide(before, [], job.estimated_credits, 0.0)
        ended = time.monotonic()
        grace, limit = self._paced(self.settle_grace), self._paced(self.settle_limit)
        afters: list[settle.Reading] = []
        said = None
        while True:
            afters.append(await self._reading(job, before.top, ended))
            if len(afters) > KEEP:
                del afters[1]
            now = time.monotonic() - ended
            found = settle.decide(
                before,
                afters,
                job.estimated_credits,
                now,
                grace=grace,
                limit=now if self._closing else limit,
                me=job.id,
            )
            if isinstance(found, settle.Settlement):
                return found
            if said is None:  # other unclear sends of the account wait for this one, or not
                await self._record(track, settled=settle.SETTLING)
            if found.why != said:
                said = found.why
                self.stats["settle_waits"] += 1
                job.apply(settle.settling(cause, found))
            await self._settle_wait(job, before.top, afters[-1], found, ended, limit)

    async def _settle_wait(
        self: Engine,
        job: Job,
        since: int,
        last: settle.Reading,
        wait: settle.Wait,
        ended: float,
        limit: float,
    ) -> None:
        """Until a row the verdict waits on has moved in the ledger since `last`, `wait.at`
        comes, the time is up or the studio closes."""
        pause = min(max(self.spacing, 0.01), 1.0)
        while not self._closing:
            await asyncio.sleep(pause)
            now = time.monotonic() - ended
            if now >= limit or (wait.at is not None and now >= wait.at):
                return
            if wait.rows:
                _, _, rows = await self._picture(job, since)
                if any(rows.get(r) != last.first.get(r) for r in wait.rows):
                    return
