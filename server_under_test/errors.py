"""The server's error tree.

Domain services raise these; one handler in ``api/errors.py`` maps each to an HTTP status
and a JSON body ``{"success": false, "error": "<sentence>"}``. Routes never build HTTP
errors themselves.

    GatewayError                 root of every error the server raises on purpose
    ├── InvalidInput (400/422)   the request is well-formed JSON but asks for something invalid
    │   └── InvalidDomain        a partner domain filter that cannot be parsed or compiled
    ├── Unauthorized (401)       missing or wrong API key / admin token
    ├── NotFound (404)           an id that does not exist (or belongs to another phone)
    ├── Conflict (409)           the request is valid but the server's state forbids it
    └── Unavailable (503)        the database cannot be reached
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "GatewayError",
    "InvalidDomain",
    "InvalidInput",
    "NotFound",
    "Unauthorized",
    "Unavailable",
]


class GatewayError(Exception):
    """Root of every error the gateway server raises on purpose."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GatewayError):
    """The request asks for something invalid; the message says what and how to fix it."""

    status_code = 422

    def __init__(self, message: str, field: str = "request") -> None:
        super().__init__(message)
        self.field = field


class InvalidDomain(InvalidInput):
    """A partner domain filter that cannot be parsed or compiled."""


class Unauthorized(GatewayError):
    """Missing or wrong credentials."""

    status_code = 401


class NotFound(GatewayError):
    """An id that does not exist, or is not visible to the caller."""

    status_code = 404


class Conflict(GatewayError):
    """A valid request that the server's current state forbids."""

    status_code = 409


class Unavailable(GatewayError):
    """A dependency of the server (its database) cannot be reached."""

    status_code = 503
