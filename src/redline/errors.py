"""Every exception redline raises on purpose.

::

    RedlineError                 base; ``str(err)`` is a message meant for users
    ├── ConfigError              a campaign file or option is wrong (exit code 2)
    ├── DataError                a behaviour/data file is unreadable or malformed (exit code 2)
    ├── PluginError              an unknown or broken target/attack/judge (exit code 2)
    ├── MissingExtraError        an optional dependency is not installed (exit code 2)
    ├── StoreError               the results database cannot be used (exit code 2)
    ├── ExecutorError            the run's workers failed (every Ray actor lost; exit code 2)
    ├── BudgetExhausted          a run reached its call budget; the engine stops cleanly
    └── CallError                one model call failed
        ├── TransientCallError   worth retrying: 429, 5xx, timeouts, dropped connections
        └── PermanentCallError   not worth retrying: 4xx, malformed or empty replies
"""

from __future__ import annotations


class RedlineError(Exception):
    """Base class; the message is written for the person running redline."""


class ConfigError(RedlineError):
    """The campaign config (file or CLI option) is invalid."""


class DataError(RedlineError):
    """A data file (behaviours, labels) cannot be read or has a malformed record."""


class PluginError(RedlineError):
    """A target, attack or judge name is unknown or its options are wrong."""


class MissingExtraError(RedlineError):
    """An optional dependency is missing; the message says which ``pip install`` fixes it."""


class StoreError(RedlineError):
    """The results store cannot be opened or does not hold what was asked for."""


class ExecutorError(RedlineError):
    """The machines running attempts failed: a cluster unreachable, every worker lost."""


class BudgetExhausted(RedlineError):
    """The run's call budget is spent; no further calls may be made."""


class CallError(RedlineError):
    """A call to a model failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientCallError(CallError):
    """A failure that may succeed on retry (rate limits, server errors, timeouts)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentCallError(CallError):
    """A failure that a retry will not fix (bad request, malformed or empty reply)."""
