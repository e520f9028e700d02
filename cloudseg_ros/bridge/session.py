"""Opening and watching the zenoh session of a bridge.

The cloud listens (router mode by default: it is the rendezvous of the fleet);
robots connect to it (client mode). A zenoh client refuses to open while no
router answers, so :class:`LinkSession` keeps retrying in the background: the robot
keeps running while the cloud is away, says so once, and connects as soon as the
cloud appears. Once open, zenoh re-establishes a lost connection by itself; the
watcher only reports the transitions.

Shared memory is off by default: robot and cloud normally sit on different
machines (or network namespaces), where zenoh SHM cannot work.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudseg_ros.errors import ConfigError

MODES = ("client", "peer", "router")
log = logging.getLogger(__name__)


@dataclass
class ZenohSettings:
    """What a bridge needs to know to reach the other side."""

    mode: str = "client"
    connect: Sequence[str] = ()
    listen: Sequence[str] = ()
    config_file: str = ""  # a zenoh JSON5 config; the fields above override what it sets
    shared_memory: bool = False
    multicast_scouting: bool = False
    # Largest message accepted from the other side: zenoh's default is 1 GiB, and the cloud's
    # bridge keeps queue_depth of them per robot before the cloud node's max_bytes refuses them.
    max_message_bytes: int = 32 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict)  # further "path/to/key": value overrides

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"zenoh mode {self.mode!r}: must be one of: {', '.join(MODES)}")
        for endpoint in (*self.connect, *self.listen):
            proto, sep, rest = endpoint.partition("/")
            if not sep or not proto or not rest:
                raise ConfigError(
                    f"zenoh endpoint {endpoint!r}: expected <proto>/<address>, e.g. tcp/127.0.0.1:7447"
                )
        if self.mode == "client" and not self.connect and not self.multicast_scouting:
            raise ConfigError("zenoh client mode needs at least one 'connect' endpoint (the cloud's address)")
        if self.config_file and not Path(self.config_file).is_file():
            raise ConfigError(f"zenoh config file not found: {self.config_file}")


def build_config(settings: ZenohSettings) -> Any:
    """A ``zenoh.Config`` from the settings (file first, then explicit fields on top)."""
    import zenoh

    settings.validate()
    try:
        config = zenoh.Config.from_file(settings.config_file) if settings.config_file else zenoh.Config()
    except Exception as exc:  # zenoh raises its own error type for parse errors
        raise ConfigError(f"zenoh config file {settings.config_file}: {exc}") from exc
    values: dict[str, Any] = {
        "mode": settings.mode,
        # Retry a lost connection every second at most (zenoh's default backs off to 4 s): a
        # robot should be served again soon after its cloud comes back.
        "connect/retry": {"period_init_ms": 250, "period_max_ms": 1000, "period_increase_factor": 2},
        "scouting/multicast/enabled": settings.multicast_scouting,
        "transport/shared_memory/enabled": settings.shared_memory,
        "transport/link/rx/max_message_size": settings.max_message_bytes,
    }
    if settings.connect:
        values["connect/endpoints"] = list(settings.connect)
    if settings.listen:
        values["listen/endpoints"] = list(settings.listen)
    values.update(settings.extra)
    for key, value in values.items():
        try:
            config.insert_json5(key, json.dumps(value))
        except Exception as exc:
            raise ConfigError(f"zenoh config {key}={value!r}: {exc}") from exc
    return config


class LinkSession:
    """A zenoh session that is (re)opened in the background and whose link is watched.

    ``on_open(session)`` runs once the session exists (declare publishers and
    subscribers there); ``on_link(up)`` runs on every change of "some remote zenoh
    node is connected".
    """

    def __init__(
        self,
        settings: ZenohSettings,
        on_open: Callable[[Any], None],
        on_link: Callable[[bool], None] | None = None,
        retry_s: float = 1.0,
        watch_s: float = 0.5,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self._config = build_config(settings)  # fail fast on bad settings
        self._settings = settings
        self._on_open = on_open
        self._on_link = on_link
        self._retry_s = retry_s
        self._watch_s = watch_s
        self._log = logger or log
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.session: Any = None
        self.link_up = False
        self._thread = threading.Thread(target=self._run, name="zenoh-link", daemon=True)

    def start(self) -> LinkSession:
        self._thread.start()
        return self

    def _try_open(self, warned: bool) -> bool:
        import zenoh

        try:
            session = zenoh.open(self._config)
        except Exception as exc:
            if not warned:
                where = ", ".join(self._settings.connect) or "(scouting)"
                self._log.warning(
                    f"cloud not reachable at {where} ({exc}); retrying every {self._retry_s:g} s"
                )
            return False
        with self._lock:
            if self._stop.is_set():
                session.close()
                return True
            self.session = session
        self._on_open(session)
        return True

    def _remote_count(self) -> int:
        info = self.session.info
        return len(list(info.routers_zid())) + len(list(info.peers_zid()))

    def _run(self) -> None:
        warned = False
        while not self._stop.is_set() and self.session is None:
            if self._try_open(warned):
                break
            warned = True
            self._stop.wait(self._retry_s)
        while not self._stop.is_set() and self.session is not None:
            try:
                up = self._remote_count() > 0
            except Exception:  # session closed under us during shutdown
                return
            if up != self.link_up:
                self.link_up = up
                if self._on_link:
                    self._on_link(up)
            self._stop.wait(self._watch_s)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            session, self.session = self.session, None
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if session is not None:
            try:
                session.close()
            except Exception as exc:  # closing twice or during interpreter exit
                self._log.debug(f"zenoh close: {exc}")
