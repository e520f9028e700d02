"""The cloud's work for many robots: check, decode, super-resolve, segment, answer.

Every received frame is decoded at once, in arrival order, by that robot's own
decoder: an H.264 stream cannot skip a frame, so nothing is dropped before
decoding. Decoded frames wait in a small per-robot newest-wins queue, and one
inference worker serves the robots round-robin, so a robot that sends too much
only loses its own stale frames. With ``max_batch`` > 1 the worker takes up to that
many frames that are already waiting, at most one per robot and in the same
round-robin order, and segments them in one batched pipeline call (it never waits
for more frames to fill a batch). Every received frame gets exactly one feedback:
when its mask is out, when it was superseded by a newer frame, or when it was
rejected; a rejected or out-of-sequence frame also asks the robot for a key frame.

No ROS here: frames come in as any object with the EncodedFrame fields, results go
out through two callbacks, so the same logic runs under the cloud node, in tests
and in benchmarks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloudseg_ros.bridge.queue import LatestQueue
from cloudseg_ros.codec import WAITING_FOR_KEY, PayloadLimits, make_decoder, validate_frame_header
from cloudseg_ros.errors import PayloadError
from cloudseg_ros.logutil import BurstLog
from cloudseg_ros.mask.codec import encode_mask

log = logging.getLogger(__name__)
MAX_COUNTED_GAP = 100_000  # frames; about 3 hours at 10 fps
# Frames per inference call. 1: on ONNX Runtime CPU a batch costs as much per frame as single
# frames (bench/batch.py: 1.06-1.16x at 1024x512) and every frame of it waits for the whole
# call; engines that gain from batching (torch, GPUs) are configured with max_batch.
DEFAULT_MAX_BATCH = 1
WARM_UP_TIMEOUT_S = 60.0  # start() waits this long at most for the worker's warm-up
CONFLICT_WINDOW_S, CONFLICT_JUMPS = 10.0, 3  # numbering going back this often: two edges, one id


def pad_to_multiple(lr: np.ndarray, width: int, height: int, multiple: int) -> tuple[np.ndarray, int, int]:
    """Pad a received frame so that its camera size becomes a multiple of ``multiple``.

    The segmenter needs sizes divisible by its output stride; a camera of any size is
    served by padding (edge pixels repeated) and cropping the mask back afterwards.
    Returns the padded frame and the padded camera size.
    """
    padded_w = -(-width // multiple) * multiple
    padded_h = -(-height // multiple) * multiple
    if (padded_w, padded_h) == (width, height):
        return lr, width, height
    h, w = lr.shape[:2]
    pad_x = round((padded_w - width) * w / width)
    pad_y = round((padded_h - height) * h / height)
    return np.pad(lr, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge"), padded_w, padded_h


@dataclass
class MaskOut:
    """A finished mask for one frame, ready to be sent to its robot."""

    robot: str
    frame: Any  # the received frame (header, seq, ... are copied into the mask message)
    data: bytes  # PNG of class ids
    width: int
    height: int
    sr_model: str
    segmenter: str
    engine: str
    reused_key_features: bool
    sr_fused: bool
    decode_ms: float
    sr_ms: float
    segment_ms: float
    encode_ms: float
    total_ms: float
    batch_size: int = 1  # frames segmented in the same engine call


@dataclass
class FeedbackOut:
    """The fate of one received frame, and the robot's counters at that moment."""

    robot: str
    seq: int
    send_stamp: Any
    frame_size: int
    receive_ns: int  # cloud wall clock at arrival
    frames_received: int
    frames_lost: int
    decode_errors: int
    request_idr: bool
    error: str
    server_ms: float


@dataclass
class _Decoded:
    frame: Any
    rgb: np.ndarray
    receive_ns: int
    receive_mono: float
    decode_ms: float
    as_key: bool = False  # segmented as a KEY frame (its own, or a USEFUL one promoted)
    key_mark: int = 0  # the robot's keys_lost when it was segmented


@dataclass
class RobotState:
    """What the cloud keeps per robot: its decoder, sequence tracking and counters."""

    name: str
    queue: LatestQueue[_Decoded]
    decoder: Any = None
    codec: str = ""
    stream_id: int = -1
    last_seq: int | None = None
    needs_key: bool = True
    frames_received: int = 0
    frames_lost: int = 0
    decode_errors: int = 0
    frames_waiting: int = 0  # inter frames refused while waiting for a key frame (not errors)
    superseded: int = 0
    # KEY frames the worker never segmented (superseded in the queue, or inference failed):
    # the robot's USEFUL frames after one were selected against it, not against the KEY whose
    # features the pipeline holds, so the next frame is segmented as a KEY instead. Counters,
    # not a flag: the receive thread and the worker both touch them.
    keys_lost: int = 0
    keys_replaced: int = 0
    keys_promoted: int = 0
    masks_sent: int = 0
    last_error: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    jumps_back: deque[float] = field(default_factory=deque)  # when its numbering went back, recently
    conflict_until: float = 0.0  # numbering kept going back: two edges with this robot id, until then


class CloudService:
    """Serves robots' uplink frames with one inference worker, fairly."""

    def __init__(
        self,
        pipeline: Any,
        emit_mask: Callable[[MaskOut], None],
        emit_feedback: Callable[[FeedbackOut], None],
        limits: PayloadLimits | None = None,
        queue_depth: int = 2,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.pipeline = pipeline
        self.robots: dict[str, RobotState] = {}
        self.limits = limits or PayloadLimits()
        self.queue_depth = queue_depth
        self.max_batch = max_batch  # frames per inference call, at most one per robot
        self._emit_mask = emit_mask
        self._emit_feedback = emit_feedback
        self._log = logger or log
        self._bursts = BurstLog.for_logger(self._log)
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._order: list[str] = []
        self._next = 0
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._serve, name="inference", daemon=True)
        self._ready = threading.Event()
        self.inference_errors = 0
        self.batches = 0  # inference calls of the worker
        self.batched_frames = 0  # frames they served
        self.last_batch_size = 0

    @property
    def limits(self) -> PayloadLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: PayloadLimits) -> None:
        """New limits apply to every robot's decoder at once, not only to robots seen later
        (a raised max_bytes kept refusing an existing robot's key frames)."""
        self._limits = limits
        for state in list(self.robots.values()):
            if state.decoder is not None:
                state.decoder.limits = limits

    @property
    def serving(self) -> bool:
        """Whether the inference worker runs (diagnostics: a node whose worker died serves nothing)."""
        return self._worker.is_alive()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> CloudService:
        """Start the worker; returns once it has warmed the pipeline up (see
        ``CloudPipeline.warm_up``), so that no robot's first frames pay for it."""
        self._worker.start()
        self._ready.wait(timeout=WARM_UP_TIMEOUT_S)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._work:
            self._work.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=10.0)

    def forget(self, robot: str) -> None:
        """Free everything held for ``robot`` (decoder, queue, key-frame features)."""
        with self._lock:
            state = self.robots.pop(robot, None)
            if robot in self._order:
                self._order.remove(robot)
        if state is not None:
            state.queue.close()
            self.pipeline.forget(robot)
        self._bursts.success(robot)  # a burst of failures in progress: reported, not kept

    def forget_silent(self, timeout_s: float) -> list[str]:
        now = time.monotonic()
        silent = [name for name, s in list(self.robots.items()) if now - s.last_seen > timeout_s]
        for name in silent:
            self.forget(name)
        return silent

    # ------------------------------------------------------------------ receiving
    def _state(self, robot: str) -> RobotState:
        with self._lock:
            state = self.robots.get(robot)
            if state is None:
                state = self.robots[robot] = RobotState(robot, LatestQueue(self.queue_depth))
                self._order.append(robot)
                self._log.info(f"serving robot {robot!r}")
            return state

    def receive(self, robot: str, frame: Any) -> None:
        """Take one uplink frame of ``robot``: decode it now, queue it for inference."""
        receive_ns, receive_mono = time.time_ns(), time.monotonic()
        state = self._state(robot)
        state.last_seen = receive_mono
        state.frames_received += 1
        gap = self._track_sequence(state, frame)
        if gap:
            # The frames missing may include a KEY whose features the robot's USEFUL frames
            # after it count on: the next one is segmented as a KEY (a JPEG decodes on its
            # own, so nothing else would notice; H.264 asks for an IDR besides).
            self._key_lost(state)
        try:
            rgb, decode_ms = self._decode(state, frame, gap)
        except PayloadError as exc:
            state.needs_key = True  # also for errors caught before the decoder saw the frame
            if str(exc) == WAITING_FOR_KEY:
                # Normal after a gap or a (re)start: not an error, the robot is asked for an IDR.
                state.frames_waiting += 1
            else:
                state.decode_errors += 1
                state.last_error = str(exc)
                self._bursts.failure(robot, f"frame {frame.seq} rejected: {exc}")
            self._feedback(state, frame, receive_ns, receive_mono, error=str(exc))
            return
        self._bursts.success(robot)
        decoded = _Decoded(frame, rgb, receive_ns, receive_mono, decode_ms)
        superseded = state.queue.put(decoded)
        if superseded is not None:
            state.superseded += 1
            if int(superseded.frame.selection) != 1:
                self._key_lost(state)
            self._feedback(
                state, superseded.frame, superseded.receive_ns, superseded.receive_mono, "superseded"
            )
        with self._work:
            self._work.notify()

    def reject(self, robot: str, reason: str) -> None:
        """Count a payload that never became a frame (e.g. malformed CDR). There is no sequence
        number to acknowledge, so no feedback; the next good frame carries the counters."""
        state = self._state(robot)
        state.last_seen = time.monotonic()
        state.frames_received += 1
        state.decode_errors += 1
        state.last_error = reason
        state.needs_key = True
        self._bursts.failure(robot, reason)

    def _track_sequence(self, state: RobotState, frame: Any) -> bool:
        """Count lost frames; True when this frame does not follow the previous one (a hole,
        or numbering that went back because the robot's edge restarted)."""
        seq = int(frame.seq)
        last, state.last_seq = state.last_seq, seq
        if last is None or seq == last + 1:
            return False
        if seq <= last:
            self._numbering_went_back(state)
        if last + 1 < seq <= last + 1 + MAX_COUNTED_GAP:
            state.frames_lost += seq - last - 1
        # A jump further than any real outage (or backwards) is a renumbering, not a loss: a
        # restarted or misbehaving robot must not be able to inflate the counters.
        return True

    def _numbering_went_back(self, state: RobotState) -> None:
        """An edge that restarts numbers from 1 again, once; numbering that keeps going back is
        two edges sending as one robot id (two robots launched with the same robot_id):
        their streams break each other's decoding and in-flight windows. Said, and shown."""
        now = time.monotonic()
        state.jumps_back.append(now)
        while state.jumps_back and now - state.jumps_back[0] > CONFLICT_WINDOW_S:
            state.jumps_back.popleft()
        if len(state.jumps_back) >= CONFLICT_JUMPS:
            state.conflict_until = now + CONFLICT_WINDOW_S
            self._bursts.failure(
                f"{state.name}/ids",
                f"robot {state.name!r}: frame numbers went back {len(state.jumps_back)} times in "
                f"{CONFLICT_WINDOW_S:g} s: two edges sending with the same robot id?",
            )

    def _decode(self, state: RobotState, frame: Any, gap: bool) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        data = bytes(frame.data)
        validate_frame_header(
            frame.codec,
            int(frame.width),
            int(frame.height),
            len(data),
            int(frame.original_width),
            int(frame.original_height),
            self.limits,
        )
        if int(frame.encoded_size) != len(data):
            raise PayloadError(f"encoded_size {frame.encoded_size} but {len(data)} bytes of payload")
        if frame.codec != state.codec or int(frame.stream_id) != state.stream_id or state.decoder is None:
            # A new stream (codec or size changed, or the robot restarted): fresh decoder state.
            state.decoder = make_decoder(frame.codec, self.limits)
            state.codec, state.stream_id = frame.codec, int(frame.stream_id)
        if gap:
            state.decoder.reset()  # what follows the hole references frames we never saw
        try:
            # The decoder reads key frames from the bitstream itself (the sender's flag is not
            # trusted) and refuses anything but a key frame while it has lost sync.
            rgb = state.decoder.decode(data, int(frame.width), int(frame.height))
        finally:
            state.needs_key = state.decoder.needs_key_frame
        return rgb, (time.perf_counter() - t0) * 1e3

    # ------------------------------------------------------------------ inference
    def _next_jobs(self) -> list[tuple[RobotState, _Decoded]] | None:
        """Round-robin over robots: from the robot after the last one served, the next
        frames waiting, at most one per robot and ``max_batch`` in all. Only frames already
        queued are taken: a frame never waits for a batch to fill."""
        with self._work:
            while not self._stop.is_set():
                n = len(self._order)
                limit = max(1, int(self.max_batch))
                jobs, last = [], 0
                for i in range(n):
                    state = self.robots[self._order[(self._next + i) % n]]
                    item = state.queue.get_nowait()
                    if item is not None:
                        jobs.append((state, item))
                        last = i
                        if len(jobs) == limit:
                            break
                if jobs:
                    self._next = (self._next + last + 1) % n
                    return jobs
                self._work.wait(0.5)
        return None

    def _warm_up(self) -> None:
        warm_up = getattr(self.pipeline, "warm_up", None)
        try:
            if warm_up is not None:
                self._log.info(f"pipeline warmed up in {warm_up():.2f} s")
        except Exception as exc:  # the first real frame will report a real failure
            self._log.warning(f"pipeline warm-up failed: {exc}")
        finally:
            self._ready.set()

    def _serve(self) -> None:
        self._warm_up()
        while (jobs := self._next_jobs()) is not None:
            try:
                self._serve_jobs(jobs)
            except Exception as exc:  # whatever it was, the worker goes on with the next frames
                self.inference_errors += 1
                self._log.error(f"inference worker: {exc!r} serving {[s.name for s, _ in jobs]}")

    def _serve_jobs(self, jobs: list[tuple[RobotState, _Decoded]]) -> None:
        """Segment and answer one batch; a frame that fails gets an error feedback."""
        self.batches += 1
        self.batched_frames += len(jobs)
        self.last_batch_size = len(jobs)
        try:
            results = self._segment(jobs)
        except Exception as exc:  # a model failure must not kill the service
            if len(jobs) == 1:
                self._failed(*jobs[0], exc)
                return
            # One bad frame must not fail the others: serve the batch frame by frame.
            results = []
            for job in jobs:
                try:
                    results.append(self._segment([job])[0])
                except Exception as err:
                    self._failed(*job, err)
                    results.append(None)
        with self._lock:  # forgotten while its frame was segmented: the features it left go too
            gone = {state.name for state, _ in jobs if self.robots.get(state.name) is not state}
        for name in gone:
            self.pipeline.forget(name)
        for (state, item), res in zip(jobs, results, strict=True):
            if res is None:
                continue
            if item.as_key:
                with self._lock:
                    state.keys_replaced = max(state.keys_replaced, item.key_mark)
            try:
                self._answer(state, item, res)
            except Exception as err:
                self._failed(state, item, err)

    def _key_lost(self, state: RobotState) -> None:
        with self._lock:
            state.keys_lost += 1

    def _failed(self, state: RobotState, item: _Decoded, exc: Exception) -> None:
        self.inference_errors += 1
        if item.as_key:
            self._key_lost(state)
        self._log.error(f"{state.name}: inference failed on frame {item.frame.seq}: {exc}")
        try:
            self._feedback(state, item.frame, item.receive_ns, item.receive_mono, f"inference failed: {exc}")
        except Exception as err:  # the feedback could not go out either: said, the worker goes on
            self._log.error(f"{state.name}: feedback for frame {item.frame.seq} failed: {err}")

    def _segment(self, jobs: list[tuple[RobotState, _Decoded]]) -> list[Any]:
        """Pipeline results of ``jobs``, in one batched call when there are several."""
        multiple = getattr(self.pipeline, "multiple", 1)
        items = []
        for state, item in jobs:
            frame = item.frame
            selection = "useful" if int(frame.selection) == 1 else "key"
            with self._lock:
                item.key_mark = state.keys_lost
                if selection == "useful" and state.keys_lost > state.keys_replaced:
                    selection = "key"  # its KEY never reached the pipeline (see RobotState)
                    state.keys_promoted += 1
            item.as_key = selection == "key"
            width, height = int(frame.original_width), int(frame.original_height)
            lr, padded_w, padded_h = pad_to_multiple(item.rgb, width, height, multiple)
            items.append((lr, padded_w, padded_h, selection, state.name))
        if len(items) == 1:
            lr, padded_w, padded_h, selection, robot = items[0]
            return [self.pipeline.process(lr, padded_w, padded_h, selection=selection, robot_id=robot)]
        return self.pipeline.process_batch(items)

    def _answer(self, state: RobotState, item: _Decoded, res: Any) -> None:
        """Send the mask of one segmented frame (cropped back to its camera size) and its feedback."""
        frame = item.frame
        width, height = int(frame.original_width), int(frame.original_height)
        t0 = time.perf_counter()
        png = encode_mask(np.ascontiguousarray(res.class_ids[:height, :width], dtype=np.uint8))
        encode_ms = (time.perf_counter() - t0) * 1e3
        total_ms = (time.monotonic() - item.receive_mono) * 1e3
        h, w = min(res.class_ids.shape[0], height), min(res.class_ids.shape[1], width)
        self._emit_mask(
            MaskOut(
                robot=state.name,
                frame=frame,
                data=png,
                width=w,
                height=h,
                sr_model=res.sr_model,
                segmenter=res.segmenter,
                engine=res.engine,
                reused_key_features=bool(res.reused_key_features),
                sr_fused=bool(getattr(res, "fused", False)),
                decode_ms=item.decode_ms,
                sr_ms=res.sr_ms,
                segment_ms=res.segment_ms,
                encode_ms=encode_ms,
                total_ms=total_ms,
                batch_size=int(getattr(res, "batch_size", 1)),
            )
        )
        state.masks_sent += 1
        self._feedback(state, frame, item.receive_ns, item.receive_mono)

    def _feedback(
        self, state: RobotState, frame: Any, receive_ns: int, receive_mono: float, error: str = ""
    ) -> None:
        self._emit_feedback(
            FeedbackOut(
                robot=state.name,
                seq=int(frame.seq),
                send_stamp=frame.send_stamp,
                frame_size=len(frame.data),
                receive_ns=receive_ns,
                frames_received=state.frames_received,
                frames_lost=state.frames_lost,
                decode_errors=state.decode_errors,
                request_idr=state.needs_key,
                error=error,
                server_ms=(time.monotonic() - receive_mono) * 1e3,
            )
        )

    # ------------------------------------------------------------------ stats
    def batch_stats(self) -> dict[str, float | int]:
        """How many frames the worker's inference calls served: last and mean batch size."""
        return {
            "max_batch": self.max_batch,
            "batches": self.batches,
            "last_batch_size": self.last_batch_size,
            "mean_batch_size": round(self.batched_frames / self.batches, 2) if self.batches else 0.0,
        }

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "frames_received": s.frames_received,
                "frames_lost": s.frames_lost,
                "decode_errors": s.decode_errors,
                "waiting_for_key": s.frames_waiting,
                "superseded": s.superseded,
                "useful_served_as_key": s.keys_promoted,
                "masks_sent": s.masks_sent,
                "queued": len(s.queue),
                "last_error": s.last_error,
                "id_conflict": time.monotonic() < s.conflict_until,
            }
            for name, s in list(self.robots.items())
        }
