"""One place that turns errors into HTTP answers.

Every error body is ``{"success": false, "error": "<sentence>"}`` (the reference's shape),
plus ``detail`` for validation errors: a list of ``{"field", "problem"}``.

* ``GatewayError`` subclasses → their own status (401, 404, 409, 422);
* malformed JSON → 400 naming the character position; a body that is not a JSON object → 400;
* a field of the wrong type, missing or out of range → 422 naming each field;
* unknown routes and wrong methods → 404 / 405 in the same shape;
* the database unreachable → 503;
* with defect B22 on, an input the reference mishandles → the reference's answer
  (``api/mishandled.py``: 500 with the exception's text, or a 200 lacking a field);
* anything else → 500 with a generic sentence (the traceback goes to the log only) and
  ``Connection: close``, since the connection is closed after it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..errors import GatewayError, InvalidInput
from .mishandled import ReferenceAnswer

__all__ = [
    "ERROR_RESPONSES",
    "ErrorBody",
    "FieldProblem",
    "ValidationErrorBody",
    "describe_validation_errors",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error answer."""

    success: bool = False
    error: str = Field(description="What was wrong and what to do, in a sentence")


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str = Field(description="e.g. results[2].status")
    problem: str


class ValidationErrorBody(ErrorBody):
    """A request whose fields are invalid."""

    detail: list[FieldProblem]


# Documented on every route, so that a client generated from the OpenAPI document reads
# the errors the server really sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON, or a body that is not an object"},
    401: {"model": ErrorBody, "description": "Missing or wrong API key / admin token"},
    404: {"model": ErrorBody, "description": "Unknown id"},
    409: {"model": ErrorBody, "description": "The server's state forbids it (archived phone, ...)"},
    413: {"model": ErrorBody, "description": "The body is larger than the server's limit"},
    422: {"model": ValidationErrorBody, "description": "Invalid fields, each named"},
    503: {"model": ErrorBody, "description": "The database is unavailable"},
}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    if not loc:
        return "item"
    parts = [str(p) for p in loc if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def describe_validation_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field": "results[2].status", "problem": "..."}``."""
    described = []
    for err in errors:
        problem = str(err.get("msg", "is invalid"))
        ctx = err.get("ctx") or {}
        if err.get("type") == "literal_error" and "expected" in ctx:
            problem = f"must be one of {ctx['expected']}"
        if err.get("type") in ("model_attributes_type", "model_type", "dict_type"):
            problem = "must be a JSON object"
        described.append({"field": _field(err.get("loc", ())), "problem": problem})
    return described


def _allowed(request: Request) -> list[str]:
    """Every method some route accepts on the request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": message, **extra}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            # The same shape as a schema validation error: clients read one 422 body.
            return _error(422, exc.message, detail=[{"field": exc.field, "problem": exc.message}])
        return _error(exc.status_code, exc.message)

    @app.exception_handler(ReferenceAnswer)
    async def _as_the_reference(_request: Request, exc: ReferenceAnswer) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        for err in errors:
            if err.get("type") == "json_invalid":
                ctx = err.get("ctx") or {}
                position = err.get("loc", ("body", "?"))[-1]
                return _error(
                    400,
                    f"Malformed JSON at character {position}: {ctx.get('error', 'decode error')}.",
                )
            if tuple(err.get("loc", ())) == ("body",) and err.get("type") in (
                "model_attributes_type",
                "dict_type",
            ):
                hint = (
                    " (send it with Content-Type: application/json)"
                    if isinstance(err.get("input"), str | bytes)
                    else ""
                )
                return _error(400, f"The request body must be a JSON object{hint}.")
        detail = describe_validation_errors(errors)
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in detail)
        return _error(422, f"Invalid request: {summary}.", detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first route's method; a path served by several
            # routes (GET and POST /admin/phones) allows them all.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint."
        elif exc.status_code == 405:
            message = (
                "Method not allowed here: device endpoints take POST with a JSON body; "
                "see /docs for each admin route's methods."
            )
        return JSONResponse(
            {"success": False, "error": message}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("Database error on %s %s: %s", request.method, request.url.path, exc.orig)
        return _error(503, "The database is unavailable; retry later.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        # Starlette re-raises the error after this answer and uvicorn then drops the
        # connection; saying so keeps a keep-alive client from reusing it (a reset).
        return _error(
            500,
            "Internal server error; the server log has the details.",
            headers={"Connection": "close"},
        )
