"""Errors shared by the inference backends (each backend module imports this, none imports another)."""

from __future__ import annotations


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here (library or GPU missing); the message says what to install."""
