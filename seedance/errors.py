"""Typed errors shared by the library, the CLI and the services.

Every error that a user can cause names the field and the rule it broke, so the CLI can print
it as one line and the gRPC layer can map it to INVALID_ARGUMENT without rewording.
"""

from __future__ import annotations


class SeedanceError(Exception):
    """Base class for every error this package raises on purpose."""


class InvalidRequestError(SeedanceError, ValueError):
    """A request parameter breaks a rule. `field` names the parameter, `rule` says what is allowed."""

    def __init__(self, field: str, rule: str):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self):  # picklable (Ray ships exceptions between processes by pickling them)
        return (type(self), (self.field, self.rule))


class ModelLoadError(SeedanceError):
    """A model directory is missing, unreadable, or its weights do not match its config."""


class RewriteError(SeedanceError):
    """A prompt rewrite failed. Rewrites are never silently skipped: callers see this."""


class ConfigError(SeedanceError, ValueError):
    """A model configuration is inconsistent (caught when the config is built, not at run time)."""
