"""Errors shared by every layer; each knows the exit status of docs/contracts.md §4."""


class VtaError(Exception):
    """Base of every error pyvta reports to a user as a one-line message."""

    exit_status = 1


class ConfigError(VtaError):
    """An invalid or unknown configuration key, value or preset."""


class FieldRangeError(VtaError, ValueError):
    """A value that does not fit the instruction or micro-op field it is meant for."""


class DecodeError(VtaError):
    """Bytes that are not a valid instruction for the configuration."""


class ImageError(VtaError):
    """A program image (DRAM image plus metadata) that cannot be read."""


class BoundsError(VtaError):
    """An SRAM or DRAM access outside its buffer (exit status 2)."""

    exit_status = 2


class DeadlockError(VtaError):
    """A module waits for a token that can never arrive (exit status 3)."""

    exit_status = 3
