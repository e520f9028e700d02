"""Moving the latest mask to a camera frame that has none (no ROS imports).

The robot gets a mask from the cloud only for the frames it sent; for the others the mask
node used to republish the latest mask unchanged. On a moving robot that mask is wrong
where anything moved: on the embedded driving scene (~7 m/s, 10 Hz) a one-frame-old
ground-truth mask scores about 0.5 mIoU. Video segmentation's standard remedy (Deep Feature
Flow, Accel) is to move the old result along the motion between its source frame and the
current frame, and the robot has both frames: this module estimates dense motion on small
grayscale thumbnails and warps the class ids with it.

How (every choice measured with ``bench/selector.py --propagation`` on scene seeds 100-102,
the selector's tuning seeds; numbers in docs/edge.md):

- Motion: OpenCV's DIS optical flow from the CURRENT thumbnail to the SOURCE thumbnail
  (backward flow: every current pixel learns where it came from, so the warp leaves no
  holes), on grayscale thumbnails ~128 pixels wide whatever the camera size
  (:func:`motion_thumbnail`), so the flow costs the same at 1024x512 and 2048x1024. DIS at
  the thumbnail's own scale, 8x8 patches every 3 pixels, 25 gradient-descent steps, no
  variational refinement (it added cost, not accuracy); a patch stride of 4 or a thumbnail
  half as wide lost accuracy; twice as wide roughly halved the loss for ~3.3x the time
  (~7 ms a frame at 1024x512 on one core), over the few-ms budget of the robot.
- Warp: the per-thumbnail-pixel source coordinates are upsampled (bilinear) to a full-size
  map in one resize, then ``cv2.remap`` samples the ids with NEAREST: ids are never blended,
  so no class appears that the source mask does not have. Pixels whose source lies outside
  the frame take the nearest border id (replicate): under forward motion content leaves the
  frame and the border is the best guess; marking them 255 (ignore) counts as wrong for a
  consumer and for the bench alike (it touched ~0.1% of the pixels and changed nothing
  measurable). Disocclusions take whatever the flow points at (usually the background next
  to the occluder) for the same reason.
- Still scenes: when the two thumbnails do not differ (:func:`is_still`), the mask is
  given back as it is; DIS finds motion in sensor noise otherwise.
- Chaining: for several frames in a row without a mask, each step propagates the previous
  propagated mask across one frame (small motion, which DIS follows better) instead of
  from the source across the whole gap: more accurate beyond one frame, same cost (one
  flow per frame).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

THUMB_WIDTH = 128  # motion thumbnail width [px]; the cost of the flow follows it, not the camera's
DIS_PATCH = 8
DIS_STRIDE = 3
DIS_ITERATIONS = 25
MIN_FLOW_SIDE = 12  # DIS refuses smaller images (OpenCV error; e.g. a 64x1024 camera's 6x93 thumbnail)
STILL_LEVEL = 10  # gray levels (of 255; the selector's 0.04) a thumbnail pixel must change by ...
STILL_FRACTION = 0.005  # ... in more than this fraction of the thumbnail, or the scene stood still


def motion_thumbnail(rgb: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """The uint8 grayscale thumbnail motion is estimated on: ``f x f`` blocks of the frame
    (``f = round(W / width)``), each block one thumbnail pixel, so that thumbnail pixel
    ``(i, j)`` lies at frame pixel ``f * (i, j)`` (+ half a block) exactly, which the warp
    relies on. Columns are area-averaged; of each block's rows only two (``f`` even) or the
    middle one (``f`` odd) are read, so most of a large frame is never touched (0.2 ms at
    2048x1024, against ~1 ms reading every row; averaging over ``f`` columns still smooths
    sensor noise, and the flow needs no more)."""
    h, w = rgb.shape[:2]
    f = max(1, min(round(w / width), w, h))
    tw, th = w // f, h // f
    rows = rgb[f // 4 : th * f : f // 2] if f % 2 == 0 else rgb[f // 2 : th * f : f]
    small = cv2.resize(rows[:, : tw * f], (tw, th), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def flow_fits(thumb: np.ndarray) -> bool:
    """Can DIS estimate motion on this thumbnail? (Tiny or very wide frames: no; callers then
    take the scene as unmoved instead of failing.)"""
    return min(thumb.shape[:2]) >= MIN_FLOW_SIDE


def make_flow(stride: int = DIS_STRIDE, refinement: int = 0) -> cv2.DISOpticalFlow:
    """A DIS instance with the measured parameters (it keeps buffers between calls: reuse it).
    ``stride`` and ``refinement`` (variational refinement iterations) are there for the bench."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    dis.setFinestScale(0)
    dis.setPatchSize(DIS_PATCH)
    dis.setPatchStride(stride)
    dis.setGradientDescentIterations(DIS_ITERATIONS)
    dis.setVariationalRefinementIterations(refinement)
    return dis


def source_map(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width, 2) float32 source coordinates of every frame pixel, from a thumbnail
    flow (current -> source, in thumbnail pixels). The coordinates are built at thumbnail size
    and resized once: bilinear interpolation of "pixel centre + flow" is "pixel + interpolated
    flow" at full size, without a full-size grid to add (4-6x cheaper, measured)."""
    th, tw = flow.shape[:2]
    sx, sy = width / tw, height / th
    xs = (np.arange(tw, dtype=np.float32) + 0.5) * sx - 0.5
    ys = (np.arange(th, dtype=np.float32) + 0.5) * sy - 0.5
    small = np.empty((th, tw, 2), np.float32)
    small[..., 0] = xs[None, :] + flow[..., 0] * np.float32(sx)
    small[..., 1] = ys[:, None] + flow[..., 1] * np.float32(sy)
    full = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    # Within half a thumbnail pixel of the frame's edges the resize holds the outermost
    # thumbnail pixel's value (clamps) instead of continuing the grid: add the missing
    # "pixel" part there, or still frames would come back shifted along their borders.
    _continue_grid(full[..., 0], xs[0], xs[-1], axis=1)
    _continue_grid(full[..., 1], ys[0], ys[-1], axis=0)
    return full


def _continue_grid(coord: np.ndarray, first: float, last: float, axis: int) -> None:
    """In place: coordinates before the first thumbnail centre and after the last one, along
    ``axis``, get their distance to that centre added."""
    n = coord.shape[axis]
    lo = min(n, max(0, int(np.ceil(first))))
    hi = min(n, max(0, int(np.floor(last)) + 1))
    before = np.arange(lo, dtype=np.float32) - np.float32(first)
    after = np.arange(hi, n, dtype=np.float32) - np.float32(last)
    if axis == 1:
        coord[:, :lo] += before[None, :]
        coord[:, hi:] += after[None, :]
    else:
        coord[:lo] += before[:, None]
        coord[hi:] += after[:, None]


def warp_ids(ids: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Class ids of the source frame moved to the current frame: nearest-neighbour sampling
    (never a blend of two ids), border ids replicated outward."""
    h, w = ids.shape
    return cv2.remap(ids, source_map(flow, w, h), None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def is_still(source: np.ndarray, current: np.ndarray) -> bool:
    """Nothing moved between two thumbnails: then the mask is kept as it is. DIS finds small
    spurious motion in sensor noise, and chaining it over the long runs of frames a still
    robot skips moved mask borders (0.0015 mIoU lost over 19 frames in 20 with the ground
    truth as the mask, measured); on the still scene no thumbnail pixel changes by 10 levels,
    on the moving ones 14-52% do."""
    changed = np.count_nonzero(cv2.absdiff(source, current) > STILL_LEVEL)
    return changed <= STILL_FRACTION * source.size


@dataclass
class _Chain:
    mask_key: object  # which mask was propagated
    frame_key: int  # to which frame
    ids: np.ndarray


class MaskPropagator:
    """Propagates masks to later frames; keeps the flow instance, the thumbnails of recent
    frames (a frame is a source once and a target once when chaining) and the last result.

    Frame keys are integers ordered in time (camera stamps in ns, or frame indices). Not
    thread-safe (one DIS instance)."""

    def __init__(
        self,
        chain: bool = True,
        width: int = THUMB_WIDTH,
        frames_kept: int = 8,
        stride: int = DIS_STRIDE,
        refinement: int = 0,
    ) -> None:
        self.chain = chain
        self.width = width
        self._dis = make_flow(stride, refinement)
        self._thumbs: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames_kept = frames_kept
        self._last: _Chain | None = None
        self.last_ms = 0.0  # cost of the latest propagate() call (motion + warp)

    def thumbnail(self, key: int, rgb: np.ndarray) -> np.ndarray:
        thumb = self._thumbs.get(key)
        if thumb is None:
            thumb = self._thumbs[key] = motion_thumbnail(rgb, self.width)
            while len(self._thumbs) > self._frames_kept:
                self._thumbs.popitem(last=False)
        return thumb

    def propagate(
        self,
        mask_key: object,
        ids: np.ndarray,
        source_key: int,
        source_rgb: np.ndarray,
        current_key: int,
        current_rgb: np.ndarray,
    ) -> np.ndarray:
        """``ids`` (the mask ``mask_key`` of frame ``source_key``) as seen in frame ``current_key``.

        With chaining, and when the previous call propagated the same mask to a frame between
        the two, motion is estimated from that frame instead (one small step). ValueError when
        the mask and frames do not all have one size: the caller falls back to the mask as is.
        """
        t0 = time.perf_counter()
        if source_rgb.shape[:2] != ids.shape or current_rgb.shape[:2] != ids.shape:
            raise ValueError(
                f"mask {ids.shape} and frames {source_rgb.shape[:2]} -> {current_rgb.shape[:2]} differ in size"
            )
        start_key, start_ids = source_key, ids
        last = self._last
        if (
            self.chain
            and last is not None
            and last.mask_key == mask_key
            and source_key < last.frame_key < current_key
            and last.frame_key in self._thumbs
            and last.ids.shape == ids.shape
        ):
            start_key, start_ids = last.frame_key, last.ids
            start_thumb = self._thumbs[start_key]
        else:
            start_thumb = self.thumbnail(source_key, source_rgb)
        current_thumb = self.thumbnail(current_key, current_rgb)
        if start_key == current_key or is_still(start_thumb, current_thumb) or not flow_fits(current_thumb):
            out = start_ids
        else:
            flow = self._dis.calc(current_thumb, start_thumb, None)
            out = warp_ids(start_ids, flow)
        self._last = _Chain(mask_key, current_key, out)
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return out
