"""`cloudseg profile`: measure every edge configuration on the embedded scene, keep the Pareto set.

Each configuration (downscale x codec x bitrate or JPEG quality x frame-rate cap) runs
through the code the robot and the cloud really run: the edge's own send path
(:class:`EdgePipeline`: frame-rate cap, downscale, libx264/JPEG encoder, one stream per
scene clip), the cloud's decoder and :class:`CloudPipeline` (the SR model the cloud is
configured with, which applies the learned x4 model where the ratio is 4 and bilinear
otherwise, then the segmenter). The uplink rate is the encoded bytes per second of
camera time.

Accuracy is what a robot gets: every camera frame is scored against its ground truth
with the newest mask the robot would have for it, i.e. its own mask when the frame was
sent, else the mask of the last frame sent (a frame-rate cap costs accuracy on a moving
scene, as it should). The mIoU of the sent frames alone is kept beside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudseg_ros.codec.base import DEFAULT_CHROMA
from cloudseg_ros.controller.profile import Profile, ProfilePoint, pareto

log = logging.getLogger(__name__)

# Bitrate ladders per downscale factor (kbit/s at the camera rate), roughly 2x apart so the
# ladder spans "barely usable" to "more than the scene needs" at each size.
H264_LADDER: dict[int, tuple[int, ...]] = {
    1: (500, 1000, 2000, 4000, 8000),
    2: (150, 300, 600, 1200, 2400),
    4: (40, 80, 160, 320, 640),
    8: (20, 40, 80, 160),
}
JPEG_QUALITIES = (30, 60, 85)
FPS_CAPS = (0.0, 5.0)  # 0 = every camera frame


@dataclass(frozen=True)
class Config:
    """One point of the knob space."""

    downscale: int
    codec: str
    fps_cap: float
    bitrate_kbps: int = 0
    jpeg_quality: int = 0

    @property
    def name(self) -> str:
        rate = f"q{self.jpeg_quality}" if self.codec == "jpeg" else f"{self.bitrate_kbps}k"
        fps = f"-{self.fps_cap:g}fps" if self.fps_cap > 0 else ""
        return f"x{self.downscale}-{self.codec}-{rate}{fps}"

    def knobs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "downscale": self.downscale,
            "codec": self.codec,
            "fps_cap": float(self.fps_cap),
        }
        if self.codec == "jpeg":
            out["jpeg_quality"] = self.jpeg_quality
        else:
            out["bitrate_kbps"] = self.bitrate_kbps
        return out


def knob_space(
    downscales: Sequence[int] = tuple(H264_LADDER),
    fps_caps: Sequence[float] = FPS_CAPS,
    codecs: Sequence[str] = ("h264", "jpeg"),
    ladder_scale: float = 1.0,
) -> list[Config]:
    """Every configuration to measure; ``ladder_scale`` multiplies the bitrate ladders (for
    camera sizes other than 1024x512, scale it with the pixel count)."""
    out = []
    for d in downscales:
        for fps in fps_caps:
            if "h264" in codecs:
                rates = H264_LADDER.get(d) or tuple(max(10, r // (d * d)) for r in H264_LADDER[1])
                out += [Config(d, "h264", fps, bitrate_kbps=max(10, round(r * ladder_scale))) for r in rates]
            if "jpeg" in codecs:
                out += [Config(d, "jpeg", fps, jpeg_quality=q) for q in JPEG_QUALITIES]
    return out


def measure_config(
    config: Config,
    clips: Iterable[list[Any]],
    pipeline: Any,
    fps: float,
    gop: int = 100,
    chroma: str = DEFAULT_CHROMA,
) -> ProfilePoint:
    """Run one configuration over the clips (lists of EvalFrame) and score it."""
    from cloudseg_ros.bridge.flow import InFlightWindow
    from cloudseg_ros.cloud.service import pad_to_multiple
    from cloudseg_ros.codec import make_decoder
    from cloudseg_ros.edge.pipeline import EdgeKnobs, EdgePipeline
    from cloudseg_ros.metrics import ConfusionMatrix
    from cloudseg_ros.selector import Selection

    held, fresh = ConfusionMatrix(), ConfusionMatrix()
    total_bytes, camera_frames, sr_used = 0, 0, set()
    for clip in clips:
        knobs = EdgeKnobs(**{**config.knobs(), "gop": gop, "chroma": chroma})
        edge = EdgePipeline(knobs, InFlightWindow(0), fps=fps)
        decoder = make_decoder(config.codec)
        robot = f"profile-{id(clip)}"
        latest = None
        try:
            for i, frame in enumerate(clip):
                camera_frames += 1
                sent, _ = edge.process(frame.hr, i / fps)
                if sent is not None:
                    total_bytes += len(sent.packet.data)
                    lr = decoder.decode(sent.packet.data, sent.width, sent.height)
                    selection = "useful" if sent.decision.selection == Selection.USEFUL else "key"
                    h, w = frame.labels.shape
                    # Any camera size, served as the cloud serves it: padded to the segmenter's
                    # multiple, the mask cropped back.
                    lr, padded_w, padded_h = pad_to_multiple(lr, w, h, getattr(pipeline, "multiple", 1))
                    res = pipeline.process(lr, padded_w, padded_h, selection=selection, robot_id=robot)
                    latest = res.class_ids[:h, :w]
                    sr_used.add(res.sr_model)
                    fresh.update(frame.labels, latest)
                if latest is not None:
                    held.update(frame.labels, latest)
        finally:
            edge.close()
            decoder.close()
            pipeline.forget(robot)
    kbps = total_bytes * 8 / (camera_frames / fps) / 1e3
    return ProfilePoint(
        config.name, config.knobs(), kbps, held.miou(), "+".join(sorted(sr_used)), fresh.miou()
    )


def build_profile(
    configs: Sequence[Config],
    clips: list[list[Any]],
    pipeline: Any,
    fps: float,
    meta: dict[str, Any],
    chroma: str = DEFAULT_CHROMA,
) -> Profile:
    """Measure every configuration; the Pareto set (by held mIoU) becomes the ladder."""
    measured = []
    for n, config in enumerate(configs, 1):
        t0 = time.monotonic()
        point = measure_config(config, clips, pipeline, fps, chroma=chroma)
        measured.append(point)
        log.info("%2d/%d %-24s %7.0f kbps  mIoU %.4f (sent frames %.4f)  %.0f s", n, len(configs), point.name,
                 point.kbps, point.miou, point.miou_fresh or 0.0, time.monotonic() - t0)  # fmt: skip
    return Profile(pareto(measured), meta, sorted(measured, key=lambda p: p.kbps))


def plot_profile(profile: Profile, path: Path) -> Path:
    """Accuracy vs uplink rate of every configuration measured, Pareto ladder on top."""
    from cloudseg_ros.evaluation.figures import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {1: "tab:red", 2: "tab:orange", 4: "tab:blue", 8: "tab:green"}
    for p in profile.measured:
        d = int(p.knobs["downscale"])
        capped = float(p.knobs.get("fps_cap", 0.0)) > 0
        marker = "s" if p.knobs["codec"] == "jpeg" else "o"
        ax.scatter(p.kbps, p.miou, s=22, marker=marker, color=colours.get(d, "grey"),
                   facecolors="none" if capped else colours.get(d, "grey"), alpha=0.8)  # fmt: skip
    front = profile.points
    ax.plot(
        [p.kbps for p in front], [p.miou for p in front], "k-", lw=1.2, label="Pareto set (controller ladder)"
    )
    for d, c in colours.items():
        ax.scatter([], [], color=c, s=22, label=f"downscale x{d}")
    ax.scatter([], [], marker="s", color="grey", s=22, label="JPEG (circles: H.264)")
    ax.scatter([], [], marker="o", facecolors="none", color="grey", s=22, label="frame-rate cap")
    ax.set_xscale("log")
    ax.set_xlabel("uplink (kbps, measured)")
    ax.set_ylabel("mIoU (every camera frame, newest mask)")
    cam = profile.meta.get("camera", {})
    ax.set_title(f"Edge configurations, {cam.get('width')}x{cam.get('height')} at {cam.get('fps')} fps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
