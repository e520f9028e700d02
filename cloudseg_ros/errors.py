"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class CloudsegError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class ConfigError(CloudsegError, ValueError):
    """A parameter, config file or model file is missing or invalid; the message names it."""


class PayloadError(CloudsegError, ValueError):
    """A received frame or mask is malformed, truncated, oversized or undecodable."""
