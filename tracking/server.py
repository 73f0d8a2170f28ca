"""The server-side tagging endpoint: ``roiste serve --store URL``.

``POST /v1/purchases`` takes ``{order_id, email | email_sha256, value, timestamp, channel}`` and
answers ``{customer_type, first_purchase_at}``; ``GET /health`` says the server is up;
``GET /openapi.json`` is the OpenAPI schema.  Purchases need ``Authorization: Bearer <token>``
with the token from ``ROISTE_TOKEN``.  Errors are JSON ``{"error": "<one line>"}``: 400 for a
body that is not JSON, 401 for a missing or wrong token, 413 for a body over 64 KiB, 422 for a
missing field or a value that is not valid (an e-mail that is not one, a control character,
...), 409 for an order id already recorded for another customer, 503 when the store fails.  A
rejected request records nothing.

The customer's first purchase is the earliest by timestamp, whatever the order in which the
requests arrive: a purchase earlier than the one answered ``new`` before is answered ``new``
with ``corrects`` naming that order, which the store now counts as ``existing`` (the correction
is recorded in ``roiste_corrections``; a re-sent order gets its corrected answer).

Requests are committed in groups: purchases that arrive while the store is writing wait for
the next transaction, so a durable commit (an fsync, a network round trip) is paid once per
group instead of once per request.  Slow stores (PostgreSQL, a ``--durable`` SQLite file) write
in a worker thread while the event loop keeps reading requests; a default SQLite commit takes
tens of microseconds and runs on the loop itself.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from roiste.tracking.errors import ConfigError, OrderError, TrackingError
from roiste.tracking.orders import Order, make_order
from roiste.tracking.store import CustomerStore, Tag

TOKEN_ENV = "ROISTE_TOKEN"
MIN_TOKEN_LENGTH = 16
MAX_BODY = 64 * 1024
_DRAIN_LIMIT = 8 * 1024 * 1024
MAX_GROUP = 512
log = logging.getLogger("roiste.tracking")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Purchase(BaseModel):
    """A purchase to tag; give the buyer's e-mail address or its SHA-256 digest."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_id": "A-10042",
                    "email": "buyer@example.com",
                    "value": 54.9,
                    "timestamp": "2025-03-01T14:05:00Z",
                    "channel": "search",
                }
            ]
        },
    )
    order_id: str = Field(min_length=1, max_length=200, description="Unique order id.")
    email: str | None = Field(default=None, description="The buyer's e-mail address.")
    email_sha256: str | None = Field(
        default=None,
        description="Hex SHA-256 of the trimmed, lower-cased address (instead of `email`).",
    )
    value: float = Field(strict=True, ge=0, allow_inf_nan=False, description="Order value.")
    timestamp: str = Field(description="Purchase time, ISO-8601 (UTC when no offset).")
    channel: str = Field(min_length=1, max_length=200, description="Channel of the order.")


class Tagged(BaseModel):
    """The answer: is the buyer new, and when did they first buy."""

    customer_type: Literal["new", "existing"]
    first_purchase_at: str = Field(description="ISO-8601 UTC time of the first purchase.")
    corrects: str | None = Field(
        default=None,
        description="Present when this purchase is earlier than the order answered `new` before: "
        "that order's id (it is now an existing customer's).",
    )


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str


def load_token(environ: MutableMapping[str, str] | None = None) -> bytes:
    """The bearer token from ``ROISTE_TOKEN`` (at least 16 characters)."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"no token configured: set {TOKEN_ENV} to the bearer token clients send")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{TOKEN_ENV}: the token must be at least {MIN_TOKEN_LENGTH} characters long")
    return token.encode("utf-8")


class GroupCommitter:
    """Queue purchases and tag them in groups, one store transaction per group."""

    def __init__(self, store: CustomerStore, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: list[tuple[Order, asyncio.Future[Tag]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish the queued work, then stop the writer."""
        if self._task is not None:
            while self._queue:
                await asyncio.sleep(0.01)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, order: Order) -> Tag:
        """Tag one order; resolves when its group has been committed."""
        fut: asyncio.Future[Tag] = asyncio.get_running_loop().create_future()
        self._queue.append((order, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
                orders = [o for o, _ in group]
                try:
                    if self.store.fast_commit:
                        tags = self.store.tag_many(orders)  # sub-millisecond: not worth a thread
                    else:
                        tags = await asyncio.to_thread(self.store.tag_many, orders)
                except Exception as exc:  # reported to each waiting request
                    log.error("store failure: %s", exc.__class__.__name__)
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), tag in zip(group, tags, strict=True):
                    if not fut.done():
                        fut.set_result(tag)


async def _send_json(
    send: Send, status: int, payload: dict[str, str], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI front of the application: bearer token, body size, and the purchases fast path.

    For ``/v1/`` the token is checked first, then the body size, before the application sees
    the request, so a rejected request never reaches the store.  ``POST /v1/purchases`` is then
    answered here by ``fast`` (the same handler the FastAPI route calls), which spares each
    purchase the framework's routing and response machinery; everything else (the health
    check, the schema, wrong methods) goes to the FastAPI application.
    """

    def __init__(
        self,
        app: ASGIApp,
        token: bytes,
        max_body: int = MAX_BODY,
        fast: Callable[[bytes], Awaitable[tuple[int, dict[str, str]]]] | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body
        self.fast = fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"")
        if not (auth[:7].lower() == b"bearer " and hmac.compare_digest(auth[7:].strip(), self.token)):
            await _send_json(
                send, 401, {"error": "missing or wrong bearer token"}, [(b"www-authenticate", b"Bearer")]
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "bad Content-Length header"})
                return
            if size > self.max_body:
                await self._too_large(receive, send, drain=size <= _DRAIN_LIMIT)
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body:
                await self._too_large(receive, send, drain=more)
                return
        if self.fast is not None and scope["method"] == "POST" and scope["path"] == "/v1/purchases":
            status, payload = await self.fast(bytes(body))
            await _send_json(send, status, payload)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, receive: Receive, send: Send, *, drain: bool) -> None:
        # Reading the rest lets the client finish sending and read the answer.
        seen = 0
        while drain and seen <= _DRAIN_LIMIT:
            message = await receive()
            seen += len(message.get("body", b""))
            drain = bool(message.get("more_body", False))
        await _send_json(send, 413, {"error": f"request body over {self.max_body} bytes"})


def _describe(errors: Sequence[Any]) -> tuple[int, str]:
    """Status and one line for pydantic errors (never echoing the input)."""
    if not errors:
        return 422, "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, "request body is not valid JSON"
    loc = [str(p) for p in first.get("loc", ())]
    if not loc:
        return 422, "request body must be a JSON object with the purchase's fields"
    return 422, f"field '{'.'.join(loc)}': {first.get('msg', 'invalid')}"


def create_app(store: CustomerStore, token: bytes, salt: bytes) -> ASGIApp:
    """The ASGI application serving ``store`` (wrapped in :class:`Guard`).

    Parameters
    ----------
    store : CustomerStore
        An open store; it is closed when the application shuts down.
    token : bytes
        The bearer token clients must send.
    salt : bytes
        The secret salt of the customer keys.
    """
    committer = GroupCommitter(store)

    async def tag_body(body: bytes) -> tuple[int, dict[str, str]]:
        # The body is parsed here whatever its Content-Type: tag managers differ in what
        # they declare, and a JSON object is all that is accepted.
        try:
            purchase = Purchase.model_validate_json(body)
        except ValidationError as exc:
            status, message = _describe(exc.errors())
            return status, {"error": message}
        try:
            order = make_order(
                order_id=purchase.order_id,
                value=purchase.value,
                timestamp=purchase.timestamp,
                channel=purchase.channel,
                salt=salt,
                email=purchase.email,
                email_sha256=purchase.email_sha256 if purchase.email is None else None,
            )
        except OrderError as exc:
            return 422, {"error": str(exc)}
        try:
            tag = await committer.submit(order)
        except TrackingError as exc:
            return 503, {"error": f"store failure: {exc.__class__.__name__}"}
        if tag.conflict:
            return 409, {"error": "field 'order_id': already recorded for another customer"}
        answer = {"customer_type": tag.customer_type, "first_purchase_at": tag.first_purchase_at}
        if tag.corrects is not None:
            answer["corrects"] = tag.corrects
        return 200, answer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        committer.start()
        # The ~90,000 objects of the imported libraries live as long as the server: moved out
        # of the collector's reach, a full collection no longer scans them (it took 30-90 ms,
        # a stall of every request in flight, against microseconds after the freeze).
        gc.collect()
        gc.freeze()
        yield
        await committer.stop()
        store.close()

    try:
        pkg_version = version("roiste")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        pkg_version = "0"
    app = FastAPI(
        title="roiste customer tagging",
        version=pkg_version,
        description="Tag purchases as new or existing customers (keys are salted hashes).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": f"The token of {TOKEN_ENV}."}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths and wrong methods answer in the same {"error": ...} shape.
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    purchase_schema = Purchase.model_json_schema()

    @app.post(
        "/v1/purchases",
        response_model=Tagged,
        summary="Tag a purchase as from a new or an existing customer",
        openapi_extra={
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": purchase_schema}},
            }
        },
        responses={
            400: {"model": ErrorBody, "description": "Body is not JSON"},
            401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
            409: {"model": ErrorBody, "description": "Order id recorded for another customer"},
            413: {"model": ErrorBody, "description": "Body over 64 KiB"},
            422: {"model": ErrorBody, "description": "Missing or invalid field"},
            503: {"model": ErrorBody, "description": "The store failed"},
        },
    )
    async def purchases(request: Request) -> JSONResponse:
        status, payload = await tag_body(await request.body())
        return JSONResponse(payload, status_code=status)

    return Guard(app, token, fast=tag_body)


def serve(
    store: CustomerStore,
    *,
    token: bytes,
    salt: bytes,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``store`` with uvicorn until interrupted (uvloop and httptools when installed)."""
    import uvicorn  # the `serve` extra; imported only when a server starts

    app = create_app(store, token, salt)
    log.info("serving %s on http://%s:%d", store.url, host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
