"""netem.png: what the link offered and what each run did with it, over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cloudseg_ros.controller.profile import Profile


def _binned_kbps(sends: list, bin_s: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(0.0, duration_s + bin_s, bin_s)
    t = np.array([s[0] for s in sends]) if sends else np.zeros(0)
    b = np.array([s[2] for s in sends]) if sends else np.zeros(0)
    sums, _ = np.histogram(t, bins=edges, weights=b)
    return edges[:-1] + bin_s / 2, sums * 8 / 1e3 / bin_s


def plot_runs(
    results: dict[str, dict[str, Any]], profile: Profile, path: Path, title: str, bin_s: float = 1.0
) -> Path:
    from cloudseg_ros.evaluation.figures import _plt

    plt = _plt()
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    ax_rate, ax_lat, ax_cfg, ax_q = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    duration = max(
        (r["link"]["timeline"][-1][0] for r in results.values() if r["link"]["timeline"]), default=1.0
    )
    first = next(iter(results.values()), None)
    if first and first["link"]["timeline"]:
        lt = np.array(first["link"]["timeline"], dtype=float)
        ax_rate.plot(lt[:, 0], lt[:, 1], color="black", lw=0.8, label="link rate (trace)")
    for k, (name, r) in enumerate(results.items()):
        c = colours[k % len(colours)]
        tl = r["timeline"]
        x, kbps = _binned_kbps(tl["sends"], bin_s, duration)
        ax_rate.step(x, kbps, where="mid", color=c, lw=1.1, label=f"{name}: sent")
        if tl["latency"]:
            lat = np.array(tl["latency"], dtype=float)
            ax_lat.scatter(lat[:, 0], lat[:, 1], s=4, color=c, label=name)
        link = np.array(r["link"]["timeline"], dtype=float) if r["link"]["timeline"] else np.zeros((0, 3))
        if len(link):
            ax_q.plot(link[:, 0], link[:, 2] / 1e3, color=c, lw=0.9, label=name)
        changes = [e for e in tl["controller"] if e["index"] >= 0]
        if changes:
            t = [max(0.0, e["t"]) for e in changes] + [duration]
            kb = [e["config_kbps"] for e in changes]
            ax_cfg.step(t, [*kb, kb[-1]], where="post", color=c, lw=1.5, label=f"{name}: configuration")
            est = [
                (e["t"], e["rate_kbps"]) for e in changes if e["rate_kbps"] == e["rate_kbps"] and e["t"] >= 0
            ]
            if est:
                ax_cfg.plot(
                    *zip(*est, strict=True), ".", color=c, ms=2, alpha=0.5, label=f"{name}: measured rate"
                )
    for p in profile.points:
        ax_cfg.axhline(p.kbps, color="grey", lw=0.4, ls=":")
    for cut in (first or {}).get("partitions", []):  # the link was down
        for ax in axes:
            ax.axvspan(cut["start_s"], cut["end_s"], color="red", alpha=0.08, lw=0)
    ax_lat.axhline(1000, color="red", lw=0.8, ls="--", label="1 s")
    ax_rate.set_ylabel("kbps")
    ax_rate.set_yscale("log")
    ax_lat.set_ylabel("mask latency (ms)")
    ax_lat.set_yscale("log")
    ax_cfg.set_ylabel("configuration (profile kbps)")
    ax_cfg.set_yscale("log")
    ax_q.set_ylabel("shaper queue (kB)")
    ax_q.set_xlabel("time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right", ncol=2)
    ax_rate.set_title(f"{title}: link, sent rate, latency, configuration, queue")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
