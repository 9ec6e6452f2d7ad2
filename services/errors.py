"""Errors of the command side. Each says what happened and whether a retry can help."""
from __future__ import annotations


class ServiceError(Exception):
    retryable = False


class ValidationError(ServiceError):
    """A bad command (unknown product, quantity not positive, malformed payload). Nothing was
    written; retrying the same command cannot help."""


class NotFound(ValidationError):
    """The aggregate the command names does not exist."""


class ConflictError(ServiceError):
    """Optimistic concurrency: other writers kept winning until the retries ran out. Transient:
    retrying the command later can succeed."""

    retryable = True


class InvalidState(ServiceError):
    """The aggregate is not in a state that allows the command (e.g. a cart that is checking out).
    Retrying the same command cannot help until the state changes."""
