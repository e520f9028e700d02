"""The offline profile the controller steers by: a Pareto set of edge configurations.

Each point is one setting of the edge node's knobs with what it costs (uplink kbps,
measured with the real encoder on the embedded scene) and what it buys (mIoU through
the real cloud models). Only the Pareto set is kept: sorted by bandwidth, every step up
costs more AND is more accurate, so "one step up" always means "more bandwidth for
more accuracy" and the controller can walk the list like a ladder (AWStream).

The file is YAML (JSON is YAML too). A missing, empty or inconsistent file is refused
at load with a :class:`ConfigError` naming the file and the first problem, so a node
never starts steering with a profile it cannot trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudseg_ros.errors import ConfigError

FORMAT_VERSION = 1
CODECS = ("h264", "h265", "jpeg")
# The edge knobs a profile point may set, with the check each value must pass. The edge
# node enforces its own (wider) ranges again when the controller sets them.
KNOB_CHECKS: dict[str, tuple[type, Any]] = {
    "downscale": (int, lambda v: 1 <= v <= 16),
    "codec": (str, lambda v: v in CODECS),
    "bitrate_kbps": (int, lambda v: 10 <= v <= 200_000),
    "jpeg_quality": (int, lambda v: 1 <= v <= 100),
    "fps_cap": (float, lambda v: 0.0 <= v <= 240.0),
    "key_threshold": (float, lambda v: 0.0 <= v <= 1.0),  # frame selection (paper §3.2) is a knob too
    "useful_threshold": (float, lambda v: 0.0 <= v <= 1.0),
}
REQUIRED_KNOBS = ("downscale", "codec", "fps_cap")


@dataclass(frozen=True)
class ProfilePoint:
    """One configuration of the edge and its measured cost and accuracy."""

    name: str
    knobs: Mapping[str, Any]
    kbps: float  # measured uplink rate at the camera rate the profile was made for
    miou: float  # every camera frame scored with the newest mask the robot had for it
    sr: str = ""  # upscaler the cloud ran for this downscale
    miou_fresh: float | None = None  # mIoU of the sent frames alone

    def frame_kbit(self, camera_fps: float) -> float:
        """Size of one sent frame [kbit].

        A rate-controlled codec spends its bit budget per frame, ``bitrate_kbps`` over the
        send rate (the encoder's time base counts frames), on every frame it is given,
        however many the frame selector or the edge's window skip; the measured ``kbps``
        counts the skipped ones as zero and says half that or less. JPEG has no budget: its
        ``kbps`` over the send rate (an underestimate by the skipped frames)."""
        cap = float(self.knobs.get("fps_cap", 0.0))
        send_fps = min(cap, camera_fps) if cap > 0 else camera_fps
        if self.knobs.get("codec") != "jpeg" and "bitrate_kbps" in self.knobs:
            return float(self.knobs["bitrate_kbps"]) / send_fps
        return self.kbps / send_fps

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "knobs": dict(self.knobs), "kbps": round(self.kbps, 1),
               "miou": round(self.miou, 4), "sr": self.sr}  # fmt: skip
        if self.miou_fresh is not None:
            out["miou_fresh"] = round(self.miou_fresh, 4)
        return out


@dataclass
class Profile:
    """The Pareto ladder (cheapest first) and what it was measured for."""

    points: list[ProfilePoint]
    meta: dict[str, Any] = field(default_factory=dict)
    measured: list[ProfilePoint] = field(default_factory=list)  # every configuration tried
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> ProfilePoint:
        return self.points[index]

    def index_of(self, name: str) -> int:
        for i, p in enumerate(self.points):
            if p.name == name:
                return i
        raise KeyError(f"{name!r} is not a point of profile {self.source}")

    @property
    def camera_fps(self) -> float:
        """The camera rate the profile was measured at (its ``kbps`` are at that rate)."""
        return float(self.meta.get("camera", {}).get("fps", 10.0))

    def camera_mismatch(self, camera_fps: float, tolerance: float = 0.05) -> str | None:
        """What is off when the edge's camera runs at ``camera_fps`` while the profile was
        measured at another rate (None when they agree within ``tolerance``). An H.264 point
        spends ``bitrate_kbps / fps`` per frame, so a faster camera makes smaller frames than
        the frame-size ladder assumes (the controller then stays below what the link carries)
        and a slower one bigger frames (it climbs to frames that take longer than planned);
        the accuracies were also measured at the profile's rate."""
        want = self.camera_fps
        if not (camera_fps > 0 and math.isfinite(camera_fps)) or abs(camera_fps - want) <= tolerance * want:
            return None
        return (
            f"profile {self.source} was measured for a {want:g} fps camera but the edge runs at "
            f"{camera_fps:g} fps: the frames of its uncapped H.264 points are {want / camera_fps:.2g}x "
            f"the sizes the ladder assumes; make a profile for this camera with "
            f"`cloudseg profile --fps {camera_fps:g} --out FILE`"
        )

    def fitting(self, kbps: float) -> int:
        """Index of the most accurate point whose rate is at most ``kbps`` (0 if none fits)."""
        best = 0
        for i, p in enumerate(self.points):
            if p.kbps <= kbps:
                best = i
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            **self.meta,
            "pareto": [p.to_dict() for p in self.points],
            "measured": [p.to_dict() for p in self.measured],
        }


def pareto(points: Sequence[ProfilePoint], min_gain: float = 0.001) -> list[ProfilePoint]:
    """The configurations no other one beats on both bandwidth and accuracy, cheapest first.

    A step up must buy at least ``min_gain`` mIoU: more bandwidth for a gain below what the
    measurement can resolve is not a rung worth climbing (and would flap on noise)."""
    best, out = -math.inf, []
    for p in sorted(points, key=lambda p: (p.kbps, -p.miou)):
        if p.miou >= best + min_gain:
            out.append(p)
            best = p.miou
    return out


def frame_ladder(profile: Profile, frame_budget_ms: float, min_gain: float = 0.005) -> Profile:
    """The ladder to climb when the edge's in-flight window bounds the uplink queue.

    Without a window, a point whose stream rate exceeds the link queues without bound, so a
    ladder is ranked by stream kbps (AWStream). The edge's window sends a frame only when
    one in flight is acknowledged and never encodes the rest: a point too big for the link
    sends fewer frames, each as good as its point makes it, and its cost is the time each
    frame takes to cross, not its stream rate. So this ladder ranks every configuration
    measured (not only the stream-rate Pareto set) by frame size and keeps those whose
    masks are more accurate (``miou_fresh``: a mask is as good as the frame it came from),
    each costing the rate that carries one frame in ``frame_budget_ms``. A full-rate point
    then outranks a capped one of the same frame size: it sends more frames when the link
    has room, and the window thins them when it has not.

    Points keep their names and knobs; ``kbps`` is that cost and ``miou`` the mask's
    accuracy. ``meta["ladder"]`` says how the ladder was made. A rung must buy ``min_gain``
    (more than the stream-rate ladder asks): every change restarts the stream with a key
    frame, which a gain under the profile's resolution does not pay for."""
    if frame_budget_ms <= 0:
        raise ValueError(f"frame_budget_ms={frame_budget_ms} must be > 0")
    fps = profile.camera_fps
    # JPEG points are left out unless nothing else is there: the profile does not say how big
    # their sent frames are (see ProfilePoint.frame_kbit).
    pool = {p.name: p for p in [*profile.measured, *profile.points]}  # the Pareto set wins on duplicates
    budgeted = {n: p for n, p in pool.items() if p.knobs.get("codec") != "jpeg"}
    pool = budgeted or pool
    costed = [
        ProfilePoint(
            p.name,
            p.knobs,
            p.frame_kbit(fps) * 1e3 / frame_budget_ms,
            p.miou if p.miou_fresh is None else p.miou_fresh,
            p.sr,
            p.miou_fresh,
        )
        for p in pool.values()
    ]
    meta = {**profile.meta, "ladder": f"frame size, {frame_budget_ms:g} ms per frame"}
    return Profile(pareto(costed, min_gain), meta, [], profile.source)


def floor_ladder(profile: Profile, ratio: float) -> Profile:
    """The ladder without the points whose masks score under ``ratio`` x the top point's.

    With the edge's in-flight window no point floods the link (a frame too big for it only
    makes the edge send fewer), so the bottom rungs are not needed to keep latency bounded;
    what they do give is masks too poor to steer by, and a run's pooled mIoU pays for a few
    of those far more than their number (poor masks add false positives to every small
    class). The safest point is then the cheapest one left."""
    if ratio <= 0 or not profile.points:
        return profile
    floor = ratio * max(p.miou for p in profile.points)
    kept = [p for p in profile.points if p.miou >= floor]
    meta = {**profile.meta, "floor": f"mIoU >= {ratio:g} x the top point's"}
    return Profile(kept, meta, profile.measured, profile.source)


def _point(raw: Any, where: str) -> ProfilePoint:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    missing = [k for k in ("name", "knobs", "kbps", "miou") if k not in raw]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    knobs = raw["knobs"]
    if not isinstance(knobs, Mapping):
        raise ValueError(f"{where}: knobs must be a mapping")
    for name in REQUIRED_KNOBS:
        if name not in knobs:
            raise ValueError(f"{where}: knob {name!r} missing")
    if knobs["codec"] != "jpeg" and "bitrate_kbps" not in knobs:
        raise ValueError(f"{where}: an {knobs['codec']} point needs bitrate_kbps")
    if knobs["codec"] == "jpeg" and "jpeg_quality" not in knobs:
        raise ValueError(f"{where}: a jpeg point needs jpeg_quality")
    clean: dict[str, Any] = {}
    for name, value in knobs.items():
        if name not in KNOB_CHECKS:
            raise ValueError(f"{where}: unknown knob {name!r} (known: {', '.join(KNOB_CHECKS)})")
        kind, ok = KNOB_CHECKS[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind or not ok(value):
            raise ValueError(f"{where}: knob {name}={value!r} is not a valid {kind.__name__}")
        clean[name] = value
    try:
        kbps, miou = float(raw["kbps"]), float(raw["miou"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: kbps and miou must be numbers") from None
    if not (math.isfinite(kbps) and kbps > 0):
        raise ValueError(f"{where}: kbps={raw['kbps']!r} must be > 0")
    if not 0.0 <= miou <= 1.0:
        raise ValueError(f"{where}: miou={raw['miou']!r} must be within 0..1")
    fresh = raw.get("miou_fresh")
    if fresh is not None:
        try:
            fresh = float(fresh)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: miou_fresh={raw['miou_fresh']!r} must be a number") from None
        if not 0.0 <= fresh <= 1.0:  # (NaN fails this too)
            raise ValueError(f"{where}: miou_fresh={raw['miou_fresh']!r} must be within 0..1")
    return ProfilePoint(str(raw["name"]), clean, kbps, miou, str(raw.get("sr", "")), fresh)


def parse_profile(data: Any, source: str = "<memory>") -> Profile:
    """Check a loaded document; raises ValueError with the first problem found."""
    if data is None:
        raise ValueError("the file is empty")
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping at the top, got {type(data).__name__}")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version!r}, this code reads {FORMAT_VERSION}")
    raw_points = data.get("pareto")
    if not isinstance(raw_points, list) or not raw_points:
        raise ValueError("'pareto' must be a non-empty list of configurations")
    points = [_point(p, f"pareto[{i}]") for i, p in enumerate(raw_points)]
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate configuration names in {names}")
    for i in range(1, len(points)):
        a, b = points[i - 1], points[i]
        if not (b.kbps > a.kbps and b.miou > a.miou):
            raise ValueError(
                f"pareto[{i}] ({b.name}: {b.kbps:.0f} kbps, mIoU {b.miou:.3f}) must cost more and be more "
                f"accurate than pareto[{i - 1}] ({a.name}: {a.kbps:.0f} kbps, mIoU {a.miou:.3f})"
            )
    measured = [_point(p, f"measured[{i}]") for i, p in enumerate(data.get("measured") or [])]
    meta = {k: v for k, v in data.items() if k not in ("version", "pareto", "measured")}
    camera = meta.get("camera", {})
    if not isinstance(camera, Mapping):
        raise ValueError(f"'camera' must be a mapping (fps, width, height), got {camera!r}")
    fps = camera.get("fps", 10.0)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"camera fps={fps!r} must be a number > 0 (the rate the profile was measured at)")
    return Profile(points, meta, measured, source)


def load_profile(path: str | Path) -> Profile:
    """Read and check a profile file; every problem is a ConfigError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"profile file not found: {path} (make one with `cloudseg profile --out FILE`)")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"profile file {path}: cannot read it: {exc}") from exc
    try:
        return parse_profile(data, str(path))
    except ValueError as exc:
        raise ConfigError(f"profile file {path}: {exc}") from exc


def save_profile(profile: Profile, path: str | Path, header: str = "") -> Path:
    """Write YAML (or JSON when the name ends in .json) that :func:`load_profile` accepts."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = profile.to_dict()
    parse_profile(data, str(path))  # never write what we would refuse to read
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        text = comment + yaml.safe_dump(data, sort_keys=False, width=110)
    path.write_text(text)
    return path
