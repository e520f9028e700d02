"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class CloudsegError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class ConfigError(CloudsegError, ValueError):
    """A parameter, config file or model file is missing or invalid; the message names it."""


class PayloadError(CloudsegError, ValueError):
    """A received frame or mask is malformed, truncated, oversized or undecodable."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: a command stops and cleans up as on Ctrl-C, and exits 143 (128 + SIGTERM),
    the code a supervisor (systemd, docker, a launch file) expects, not 130 (Ctrl-C)."""
