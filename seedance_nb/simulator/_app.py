"""The simulator's HTTP face: the Seedance2 routes, plus assets, files and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..api import Request as ApiRequest
from ..api import (
    ValidationError,
    check_callback_url,
    check_model,
    estimate_credits,
    from_inputs,
)
from ..api._media import check_local
from ..api._requests import wire_field
from ..api._transport import http_transport
from ._config import SimConfig
from ._faults import FaultInjector
from ._openapi import CREATE_EXAMPLE, CREATE_SCHEMA, errors, with_bearer_key
from ._scene import moderated
from ._size import output_size
from ._speed import SpeedHeader
from ._state import SimTask, Store
from ._webhooks import deliver
from ._wire import wire_problem


class Refusal(Exception):
    """An error answer with the API's JSON shape: {"message": ...}."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def create_app(config: SimConfig, data_dir: Path) -> FastAPI:
    """Build the ASGI app for one simulator run, keeping assets and videos in `data_dir`."""
    store = Store(config, data_dir)
    assets_dir, videos_dir = data_dir / "assets", data_dir / "videos"
    assets_dir.mkdir(parents=True, exist_ok=True)
    videos_dir.mkdir(parents=True, exist_ok=True)
    renders: dict[str, asyncio.Future[Path]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(transport=http_transport()) as http:  # for callbacks
            app.state.http = http
            for task in store.active():  # what a previous run left: on with its schedule
                store.spawn(lifecycle(task))
            for task in store.tasks.values():
                if task.callback_url and not task.notified and task.status.is_terminal:
                    store.spawn(notify(task))
            try:
                yield
            finally:
                store.close()

    app = FastAPI(
        title="Seedance2 simulator",
        version="1",
        lifespan=lifespan,
        description="A local stand-in for the Seedance2 API: same routes, same "
        "shapes, real MP4s, no credits spent.",
    )
    app.state.store = store
    app.state.data_dir = data_dir

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # keep the exception's headers: a 405 must say which methods are Allowed
        return JSONResponse(
            {"message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return JSONResponse({"message": f"{where}: {first.get('msg', 'invalid')}"}, 400)

    def account_of(request: Request) -> Any:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        account = store.account(key.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise Refusal(401, "Invalid or missing API key")
        return account

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post(
        "/api/v1/jobs/createTask",
        summary="Create a new video generation task",
        responses=errors(400, 401, 402, 429, 500),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": CREATE_SCHEMA, "example": CREATE_EXAMPLE}
                },
            }
        },
    )
    async def create_task(request: Request) -> dict[str, str]:
        account = account_of(request)
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise Refusal(400, "The request body is not valid JSON") from None
        model, callback, req = parse_create(payload, assets_dir)
        word = moderated(req.prompt)
        if word is not None:
            store.stats["moderation_refused"] += 1
            raise Refusal(
                400,
                f'Content moderation: the prompt was refused by the safety filter ("{word}"); '
                "rephrase it. Nothing was charged",
            )
        if store.running(account) >= config.concurrency:
            raise Refusal(
                429,
                f"Concurrency limit reached: at most {config.concurrency} "
                "tasks at once; wait for a running task to finish",
            )
        cost = estimate_credits(req, model)
        if cost > account.available:
            raise Refusal(
                402, f"Insufficient credits: this task needs {cost}, {account.available} available"
            )
        size = output_size(req.resolution, req.upscale, images_of(req, assets_dir))
        task = store.create(
            account, model, req, payload["inputs"], callback, size, base_of(request)
        )
        store.spawn(lifecycle(task))
        if config.render_ahead and task.outcome == "completed":
            rendering(task)  # while it waits and renders on the simulated clock
        return {"taskId": task.id}

    def rendering(task: SimTask) -> asyncio.Future[Path]:
        """The task's video, rendered once (in a worker thread) whoever asks first."""
        if task.id not in renders:
            renders[task.id] = asyncio.ensure_future(
                asyncio.to_thread(render_task, task, assets_dir, videos_dir)
            )
            store.stats["videos_rendered"] += 1
        return renders[task.id]

    async def lifecycle(task: SimTask) -> None:
        """Wait out the task's schedule (wall-clock, so it holds across restarts), finish it,
        and call back."""
        await asyncio.sleep(max(0.0, task.starts / 1000 - time.time()))
        store.start(task)
        await asyncio.sleep(max(0.0, task.finishes / 1000 - time.time()))
        store.finish(task)
        if task.callback_url:
            await notify(task)

    async def notify(task: SimTask) -> None:
        assert task.callback_url is not None
        await deliver(store, app.state.http, task.callback_url, lambda: store.body(task, task.base))
        task.notified = True
        store.save(task)

    @app.get(
        "/api/v1/jobs/queryTask",
        summary="Query task status and result",
        responses=errors(400, 401, 403, 404, 500),
    )
    async def query_task(
        request: Request,
        taskId: Annotated[str, Query(min_length=1, description="The id createTask returned")],
    ) -> dict[str, Any]:
        account = account_of(request)
        task = store.get(taskId)
        if task is None:
            raise Refusal(404, f"Task not found: {taskId}")
        if task.account is not account:
            raise Refusal(403, "Access denied: you can only query your own tasks")
        return store.body(task, base_of(request))

    @app.get(
        "/api/v1/account/credits",
        summary="Check your credits balance",
        responses=errors(401, 500),
    )
    async def credits(request: Request) -> dict[str, int]:
        account = account_of(request)
        return {"credits": account.credits, "availableCredits": account.available}

    @app.post(
        "/api/v1/assets",
        summary="Upload a file (simulator only); returns asset://",
        responses=errors(400, 401, 500),
    )
    async def upload(request: Request, file: UploadFile) -> dict[str, str]:
        account_of(request)
        asset_id = f"asset-{time.strftime('%Y%m%d')}-{secrets.token_hex(6)}"
        suffix = Path(file.filename or "").suffix.lower()[:8]
        dest = assets_dir / f"{asset_id}{suffix}"
        with dest.open("wb") as out:
            await asyncio.to_thread(shutil.copyfileobj, file.file, out)
        store.stats["assets_uploaded"] += 1
        return {"assetId": asset_id, "url": f"asset://{asset_id}"}

    @app.get(
        "/files/videos/{name}",
        summary="A rendered video, through a signed link that expires (like the CDN's)",
        responses=errors(403, 404),
    )
    async def video(
        name: str,
        expires: Annotated[str | None, Query(description="ms epoch the link expires at")] = None,
        signature: Annotated[str | None, Query(description="the link's signature")] = None,
    ) -> FileResponse:
        task = store.get(name.removesuffix(".mp4"))
        if task is None or task.status is not task.status.COMPLETED:
            raise Refusal(404, "No such video")
        problem = store.link_problem(task, expires, signature)
        if problem is not None:
            store.stats["links_refused"] += 1
            raise Refusal(403, problem)
        path = await asyncio.shield(rendering(task))
        if task.video != str(path):
            task.video = str(path)
            store.save(task)
        store.stats["videos_served"] += 1
        store.fetches[task.id] += 1
        return FileResponse(path, media_type="video/mp4")

    @app.get("/_simulator/stats", summary="Counters for tests and benchmarks")
    async def stats() -> dict[str, Any]:
        return store.snapshot()

    default_openapi = app.openapi
    app.openapi = lambda: with_bearer_key(default_openapi())  # type: ignore[method-assign]
    app.add_middleware(FaultInjector, store=store)
    app.add_middleware(SpeedHeader, speed=config.speed)
    return app


def parse_create(payload: object, assets_dir: Path) -> tuple[str, str | None, ApiRequest]:
    """Check a createTask body: first the seed's wire types (`_wire`), then the api's own rules
    for values; any problem is a 400."""
    if not isinstance(payload, dict):
        raise Refusal(400, "The request body must be a JSON object")
    try:
        for name in ("model", "inputs"):
            if name not in payload:
                raise ValidationError(name, "is required")
        problem = wire_problem(payload)
        if problem is not None:
            raise ValidationError(*problem)
        model = check_model(payload["model"])
        callback = check_callback_url(payload.get("callBackUrl"))
        req = from_inputs(payload["inputs"])
        for field_name, kind, ref in req.media():
            path = asset_path(assets_dir, ref)
            if path is not None:
                check_local(f"inputs.{wire_field(field_name)}", path, kind)
    except ValidationError as exc:
        field_name = exc.field.replace("callback_url", "callBackUrl")
        raise Refusal(400, f"{field_name}: {exc.rule}") from None
    return model, callback, req


def asset_path(assets_dir: Path, ref: object) -> Path | None:
    """The stored file behind an asset:// reference this simulator issued, if any."""
    if not isinstance(ref, str) or not ref.startswith("asset://"):
        return None
    asset_id = ref.removeprefix("asset://")
    matches = sorted(assets_dir.glob(f"{asset_id}.*")) + sorted(assets_dir.glob(asset_id))
    return matches[0] if matches else None


def images_of(req: ApiRequest, assets_dir: Path) -> list[Path | str]:
    """The request's images as local files where the simulator holds them, else their URLs."""
    refs = [ref for _, kind, ref in req.media() if kind == "image"]
    return [asset_path(assets_dir, ref) or str(ref) for ref in refs]


def render_task(task: SimTask, assets_dir: Path, videos_dir: Path) -> Path:
    """Render the MP4 for a completed task, or reuse its earlier render.

    The cache key includes the task's seed, so each task (each take) has its own video, while
    a restarted simulator finds the file it rendered before.
    """
    from ._render import cache_key, render_video

    req = task.request
    images = images_of(req, assets_dir)
    params = {
        "mode": req.mode,
        "width": task.width,
        "height": task.height,
        "seconds": req.seconds,
        "prompt": req.prompt,
        "images": images,
        "model": task.model,
        "seed": task.seed,
    }
    dest = videos_dir / f"{cache_key(**params)}.mp4"
    if not dest.exists():
        render_video(dest, **params)
    return dest
