"""Reading a frame source on a thread of its own, ahead of the node's publishing timer.

A file or the synthetic scene is read ahead, two frames at most (decoding or rendering may
take part of a period), and waits for the publisher. A live camera cannot wait: frames
happen at its own rate whether read or not, and a reader that waits leaves them in the
driver's buffers, to be published later as if new. So a live source is read at its own
rate and only its newest frame is kept (``dropped_live`` counts the frames replaced).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from cloudseg_ros.bridge.queue import LatestQueue
from cloudseg_ros.camera.sources import CameraFrame, FrameSource
from cloudseg_ros.errors import CloudsegError

END = None  # what ``next_frame`` returns once the source has ended (or failed)


class FrameReader:
    """Frames of ``source`` for a timer to take with :meth:`next_frame`.

    ``on_error`` is called once, from the reader thread, with the reason when the source
    fails; ``error`` keeps it (the node's diagnostics show it)."""

    def __init__(self, source: FrameSource, on_error: Callable[[str], None] = lambda reason: None) -> None:
        self.source = source
        self._on_error = on_error
        self._frames: queue.Queue[CameraFrame | None] = queue.Queue(maxsize=2)
        self._newest: LatestQueue[CameraFrame] = LatestQueue(1)  # live: a put replaces, atomically
        self._ended = threading.Event()  # live: the source is over (after its last frame is taken)
        self._stop = threading.Event()
        self.error = ""
        self._thread = threading.Thread(target=self._read, name="camera-reader", daemon=True)
        self._thread.start()

    @property
    def dropped_live(self) -> int:
        """Live frames replaced by a newer one before they were taken."""
        return self._newest.dropped

    def next_frame(self) -> CameraFrame | None:
        """The next frame; ``END`` once the source is over; ``queue.Empty`` if none is ready."""
        if not self.source.live:
            return self._frames.get_nowait()
        frame = self._newest.get_nowait()
        if frame is not None:
            return frame
        if self._ended.is_set():
            return END
        raise queue.Empty

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the reader to end; True once its thread has (a stalled camera's read can take
        the driver's 10 s: then the source must not be closed under it)."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                if self.source.live:
                    self._newest.put(frame)
                elif not self._put_waiting(frame):
                    return
                if self._stop.is_set():
                    return
        except CloudsegError as exc:
            self._fail(str(exc))
        except Exception as exc:  # a decoder or driver error: say so, do not go silent
            self._fail(f"{type(exc).__name__}: {exc}")
        if self.source.live:
            self._ended.set()
        else:
            self._put_waiting(END)

    def _fail(self, reason: str) -> None:
        self.error = reason
        self._on_error(reason)

    def _put_waiting(self, item: CameraFrame | None) -> bool:
        """Wait for room (False if stopped meanwhile)."""
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
