"""One error hierarchy for the whole twin.

Each error carries the HTTP status it maps to, so services never import FastAPI and the web
layer has a single handler (twin.api.errors). The CLI prints ``str(error)`` and exits non-zero.
"""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error a user can meet; the message says what is wrong and what to do."""

    http_status: int = 500
    default_msg: str = "internal error"

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg or self.default_msg)

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(TwinError):
    http_status = 500
    default_msg = "invalid configuration"


class DatabaseNotReady(TwinError):
    http_status = 503
    default_msg = "the database is not migrated: run `twin db migrate`"


class InputError(TwinError):
    """Bad user input (a file, a mapping, a query parameter)."""

    http_status = 400
    default_msg = "invalid input"


class ImportFailed(InputError):
    """An import was refused; nothing was written."""


class CRSError(InputError):
    default_msg = "unknown or missing coordinate reference system"


class NotFound(TwinError):
    http_status = 404
    default_msg = "not found"


class Unauthorized(TwinError):
    http_status = 401
    default_msg = "this resource needs a token: send `Authorization: Bearer <token>`"


class Forbidden(TwinError):
    http_status = 403
    default_msg = "your role may not see this resource"


class Conflict(TwinError):
    """The request clashes with work under way (a build of the same tileset running)."""

    http_status = 409
    default_msg = "conflict with an operation under way: retry when it has finished"


class PayloadTooLarge(TwinError):
    """A request body over the server's limit (``TWIN_MAX_BODY_BYTES``)."""

    http_status = 413
    default_msg = "the request body is too large"


class RetryLater(TwinError):
    """Refused for now, not for ever: the answer carries ``Retry-After`` (seconds)."""

    def __init__(self, msg: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(msg)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(RetryLater):
    """The caller (a token id or a client address) failed too often: it must wait."""

    http_status = 429
    default_msg = "too many requests: retry later"


class Busy(RetryLater):
    """The server is at capacity for this kind of work (token checks); nobody's fault."""

    http_status = 503
    default_msg = "the server is busy: retry in a moment"


class TileBuildError(TwinError):
    """A tileset could not be built from the files or data as they are (a corrupt content
    file of an earlier build, a tile no viewer could read); nothing was published and the
    previous tileset is whole."""

    http_status = 500
    default_msg = "the tileset could not be built: rebuild it with `twin tiles build --full`"
