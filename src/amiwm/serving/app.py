"""The FastAPI app: routes, errors as one-line JSON, bearer auth, body limits, metrics.

Every error is {"error": "<one line>"}: 400 bad values, 401 missing/wrong token, 404/405,
413 body too large, 422 schema, 503 busy. Unexpected exceptions are logged server-side and
answered with a bare 500, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from amiwm.errors import AmiError
from amiwm.serving import schemas
from amiwm.serving.arrays import to_json
from amiwm.serving.batching import Busy, MicroBatcher
from amiwm.serving.drain import drain
from amiwm.serving.engine import Engine
from amiwm.serving.metrics import Metrics
from amiwm.serving.validate import Limits, Validator

log = logging.getLogger("amiwm.serving")

MODEL_PATHS = ("/v1/encode", "/v1/predict", "/v1/plan", "/v1/surprise")
PUBLIC_PATHS = ("/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
KNOWN_PATHS = (*MODEL_PATHS, *PUBLIC_PATHS, "/metrics")
TICKET = "amiwm.ticket"  # scope key: [True] while a model request is announced to the batcher
MAX_MESSAGE = 300
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse, "description": text}
    for code, text in (
        (400, "bad values: shapes, dtypes, NaN/Inf, limits"),
        (401, "missing or wrong bearer token"),
        (413, "request body too large"),
        (422, "body does not match the schema"),
        (503, "server busy or the model did not answer in time; retry"),
    )
}


def one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": one_line(message)})
    return Response(body, status, headers, media_type="application/json")


def ok(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, allow_nan=False), 200, media_type="application/json")


def create_app(
    checkpoint: str | Path | Engine,
    token: str | None = None,
    *,
    limits: Limits | None = None,
    graph: bool = True,
    state_cost: float = 0.0,
    state_cost_entries: tuple[int, ...] = (),
) -> FastAPI:
    """The server app for a checkpoint directory (or a loaded Engine).

    token: when given, every endpoint but /healthz and the docs needs `Authorization: Bearer
    <token>`. The model is loaded here, before the app serves anything.
    """
    limits = limits or Limits()
    if token is not None and not token:
        raise AmiError("the bearer token is empty")
    if isinstance(checkpoint, Engine):
        engine = checkpoint
    else:
        engine = Engine.load(checkpoint, graph=graph, state_cost=state_cost,
                             state_cost_entries=state_cost_entries)  # fmt: skip
    metrics = Metrics()
    batcher = MicroBatcher(
        engine.run,
        max_rows={"*": limits.batch_rows, "plan": limits.plan_batch},
        wait_ms=limits.batch_wait_ms,
        max_queue=limits.max_queue,
        on_batch=metrics.batch,
    )
    check = Validator(engine, limits)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await asyncio.to_thread(batcher.close)

    app = FastAPI(
        title="amiwm world-model server",
        description=(
            "Encode observations, imagine futures, score surprise and plan actions with a JEPA "
            "world model. Arrays travel as nested JSON lists, raw base64 arrays or (frames) "
            "base64 PNG. Concurrent requests are micro-batched through one model worker."
        ),
        version="1",
        lifespan=lifespan,
    )
    app.state.engine, app.state.batcher, app.state.metrics = engine, batcher, metrics
    app.add_middleware(Guard, token=token, limits=limits, batcher=batcher, metrics=metrics)

    async def run(request: Request, kind: str, key: Any, payload: Any, rows: int) -> Any:
        try:
            future = batcher.submit(kind, key, payload, rows)
        finally:
            release(request.scope, batcher)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout_s)
        except TimeoutError:
            raise Busy(f"the model did not answer within {limits.timeout_s:g} s; retry") from None

    @app.post("/v1/encode", response_model=schemas.EncodeResponse, responses=ERRORS)
    async def encode(body: schemas.EncodeRequest, request: Request) -> Response:
        """Observations (B, *obs_shape) (and a proprio model's states (B, S)) -> latents."""
        payload, key, rows = check.encode(body)
        return ok({"latents": to_json(await run(request, "encode", key, payload, rows))})

    @app.post("/v1/predict", response_model=schemas.PredictResponse, responses=ERRORS)
    async def predict(body: schemas.PredictRequest, request: Request) -> Response:
        """Imagine n future latents from a context (latents or observations) and actions."""
        payload, key = check.predict(body)
        out = await run(request, "predict", key, payload, len(payload[0]))
        return ok({"latents": to_json(out)})

    @app.post("/v1/surprise", response_model=schemas.SurpriseResponse, responses=ERRORS)
    async def surprise(body: schemas.SurpriseRequest, request: Request) -> Response:
        """How far each last observation departs from the model's prediction."""
        payload, key = check.surprise(body)
        out = await run(request, "surprise", key, payload, len(payload[0]))
        return ok({"surprise": to_json(out)})

    @app.post("/v1/plan", response_model=schemas.PlanResponse, responses=ERRORS)
    async def plan(body: schemas.PlanRequest, request: Request) -> Response:
        """Plan actions (horizon, action_dim) from an observation toward a goal (CEM)."""
        job, key = check.plan(body)
        t0 = time.perf_counter()
        r = await run(request, "plan", key, job, 1)
        waited = 1000 * (time.perf_counter() - t0) - r["ms"]
        return ok(
            {
                "actions": to_json(r["actions"]),
                "cost": float(r["cost"]),
                "plan_ms": round(r["ms"], 3),
                "queue_ms": round(max(waited, 0.0), 3),
                "batch": r["batch"],
                "subgoal": r["subgoal"],
            }
        )

    @app.get("/healthz", response_model=schemas.HealthResponse)
    async def healthz() -> Response:
        """Liveness and what the model expects (no token needed)."""
        return ok(
            {
                "status": "ok",
                "model": engine.info(),
                "graph_nodes": engine.graph.num_nodes if engine.graph is not None else 0,
                "limits": limits.as_dict(),
                "plan_defaults": Engine.default_budget(),
            }
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        """Prometheus text: requests by endpoint and status, latency and batch histograms."""
        text = metrics.render(batcher.depth)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(AmiError)
    async def bad_value(_: Request, exc: AmiError) -> Response:
        return error(400, str(exc))

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> Response:
        return error(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return validation_error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    return app


def validation_error(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if not errors:
        return error(422, "request body does not match the schema")
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return error(400, f"malformed JSON: {detail}".rstrip(": "))
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error(422, f"{where}: {msg}{more}")


def release(scope: dict[str, Any], batcher: MicroBatcher) -> None:
    """The request stops counting as 'arriving' for the batcher (idempotent)."""
    ticket = scope.get(TICKET)
    if ticket and ticket[0]:
        ticket[0] = False
        batcher.announce(-1)


class Guard:
    """Outer ASGI layer: bearer auth, body-size limit, batcher announcements, metrics.

    Runs before FastAPI reads the body, so a wrong token or an oversized body costs nothing,
    and catches anything unexpected so no traceback ever reaches a client.
    """

    def __init__(
        self,
        app: Any,
        *,
        token: str | None,
        limits: Limits,
        batcher: MicroBatcher,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.limits = limits
        self.batcher = batcher
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path = scope.get("path", "")
        endpoint = path if path in KNOWN_PATHS else "other"
        status = [500]
        started = [False]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                started[0] = True
            await send(message)

        try:
            response = self._refuse(scope)
            if response is None and path in MODEL_PATHS:
                scope[TICKET] = [True]
                self.batcher.announce(1)
            if response is None:
                body, response = await self._read(scope, receive)
            else:
                await drain(scope, receive)  # so clients that write the whole body read it
            if response is not None:
                await response(scope, receive, send_status)
            else:
                await self.app(scope, _replay(body, receive), send_status)
        except Exception:
            log.exception("unhandled error serving %s", endpoint)
            if not started[0]:
                await error(500, "internal server error")(scope, receive, send_status)
        finally:
            release(scope, self.batcher)
            self.metrics.request(endpoint, status[0], time.perf_counter() - t0)

    def _refuse(self, scope: dict[str, Any]) -> Response | None:
        """401 or 413 decided from the headers alone, else None."""
        headers = dict(scope.get("headers") or [])
        if self.token is not None and scope.get("path") not in PUBLIC_PATHS:
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                return error(
                    401,
                    "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                    {"WWW-Authenticate": "Bearer"},
                )
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limits.max_body_bytes
            except ValueError:
                return error(400, "invalid Content-Length header")
            if too_big:
                return self._too_large()
        return None

    def _too_large(self) -> Response:
        return error(
            413, f"request body exceeds the server limit of {self.limits.max_body_bytes} bytes"
        )

    async def _read(self, scope: dict[str, Any], receive: Any) -> tuple[bytes, Response | None]:
        """The whole body, or a 413 as soon as it passes the limit (chunked uploads too)."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                if message.get("more_body", False):
                    await drain(scope, receive, size)
                return b"", self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), None


def _replay(body: bytes, receive: Any) -> Any:
    sent = [False]

    async def replay() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
