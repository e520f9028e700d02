"""The whole evaluation behind `cloudseg eval`: frames -> Table 1 (+ training-seed spread,
lambda sweep) -> Figure 5 -> Table 2 -> plots -> eval.json."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from cloudseg_ros.engines.export import export_model, exported_up_to_date
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.evaluation import bandwidth, figures, table1, timing
from cloudseg_ros.evaluation.frames import MODEL_NAMES, check_held_out, load_frames
from cloudseg_ros.evaluation.methods import TABLE1_ROWS, Segmenter
from cloudseg_ros.evaluation.report import check_targets
from cloudseg_ros.jsonsafe import dumps
from cloudseg_ros.models.checkpoint import read_metadata, weights_dir
from cloudseg_ros.sr.upscaler import LEARNED
from cloudseg_ros.train.data import SCALE

log = logging.getLogger(__name__)
SR_ROWS = {"espcn": "espcn", "sr": "sr", "cloudseg": "cloudseg"}


def run_suite(
    out: str | Path,
    seeds: list[int],
    frames: int,
    size: tuple[int, int],
    variant: str,
    weights: str | None,
    engine: str,
    threads: int,
    runs: list[str],
    sweep: str | None,
    table2_size: tuple[int, int] | None,
    fig5: bool,
    chroma: str | None = None,
) -> int:
    import torch

    from cloudseg_ros.codec import DEFAULT_CHROMA, check_chroma

    chroma = check_chroma(chroma or DEFAULT_CHROMA)  # before minutes of Table 1, not after
    torch.set_num_threads(threads)
    start = time.monotonic()
    wdir = weights_dir(weights)
    run_dirs = [Path(r) for r in runs]
    # Every model folder and the metadata read from it, before frames are rendered and Table 1
    # is computed: a mistyped --runs folder failed only after minutes.
    check_models(wdir, MODEL_NAMES, "--weights")
    for d in run_dirs:
        check_models(d, [LEARNED[sr] for sr in SR_ROWS.values()], "--runs")
    if sweep:
        check_models(Path(sweep), [], "--sweep")
        if not any(Path(sweep).glob("*.json")):
            raise ConfigError(f"--sweep {sweep}: no model metadata (*.json) in it")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in [wdir, *run_dirs]:
        check_held_out(seeds, d, MODEL_NAMES)
    if sweep:  # the sweep's models are scored on these frames too
        check_held_out(seeds, Path(sweep), [p.stem for p in Path(sweep).glob("*.json")])
    clip = load_frames(seeds, frames, *size, variant=variant)
    log.info("evaluating on %d frames of scene seeds %s at %dx%d", len(clip), seeds, *size)
    segmenter = Segmenter(wdir, engine=engine, num_threads=threads)
    keep, centre = _frame_with_small_person(clip)
    rows, kept = table1.evaluate_rows(clip, TABLE1_ROWS, segmenter, wdir, engine, threads, keep)
    report: dict = {
        "scene": {"seeds": seeds, "frames": frames, "size": list(size), "variant": variant},
        "engine": segmenter.engine_name,
        "table1": rows,
        "label_limit": table1.label_limit(clip, SCALE),
    }
    per_run = [rows]
    for d in run_dirs:
        per_run.append(table1.evaluate_rows(clip, SR_ROWS, segmenter, d, engine, threads)[0])
    report["training_seed_spread"] = table1.spread(per_run, list(SR_ROWS))
    report["training_seed_runs"] = [str(wdir), *map(str, run_dirs)]
    if sweep:
        report["lambda_sweep"] = _sweep(clip, Path(sweep), segmenter, engine, threads)
        shipped = read_metadata(wdir, "carn_m_cloudseg")["training"]["summary"]
        report["lambda_sweep"].append(
            {
                "name": "carn_m_cloudseg (shipped)",
                "lam": shipped["lam"],
                "task": shipped["task"],
                **rows["cloudseg"],
            }
        )
        figures.plot_sweep(report["lambda_sweep"], out_dir / "lambda_sweep.png")
    if fig5:
        points = bandwidth.measure(clip, wdir, engine, threads, chroma=chroma)
        report["fig5"] = {"chroma": chroma, **bandwidth.summarise(points, rows["hr"]["miou"])}
        figures.plot_bandwidth(
            report["fig5"]["points"], rows["hr"]["miou"], report["fig5"]["margin"], out_dir / "fig5.png"
        )
    if table2_size:
        big = load_frames(seeds[:1], 1, *table2_size, variant=variant)[0]
        report["table2"] = timing.stage_times(big, wdir, "cloudseg", engine, threads)
        demo = load_frames(seeds[:1], 1, 1024, 512, variant=variant)[0]
        report["table2_demo_size"] = {
            sr: timing.stage_times(demo, wdir, sr, engine, threads) for sr in ("bilinear", "cloudseg")
        }
    report["targets"] = check_targets(rows, report["training_seed_spread"], report.get("fig5"))
    figures.plot_table1(rows, out_dir / "table1.png")
    if kept:
        labels = clip[keep].labels
        images = {r: kept[r][0] for r in ("hr", "bilinear", "sr", "cloudseg") if r in kept}
        masks = {"ground truth": labels, **{r: kept[r][1] for r in images}}
        figures.side_by_side(images, masks, centre, out_dir / "side_by_side.png")
        report["side_by_side"] = {"frame": [clip[keep].seed, clip[keep].index], "centre": centre}
    report["weights"] = {
        n: read_metadata(wdir, n).get("sha256", {}) for n in MODEL_NAMES if (wdir / f"{n}.json").is_file()
    }
    report["duration_s"] = round(time.monotonic() - start, 1)
    (out_dir / "eval.json").write_text(dumps(report, indent=2) + "\n")
    _print_summary(report)
    return 0


def check_models(directory: Path, names: list[str], option: str) -> None:
    """``directory`` is a folder holding ``<name>.json`` for each of ``names``; ConfigError
    naming ``option`` otherwise."""
    if not directory.is_dir():
        raise ConfigError(f"{option} {directory}: no such folder")
    missing = [n for n in names if not (directory / f"{n}.json").is_file()]
    if missing:
        raise ConfigError(
            f"{option} {directory}: no model metadata for {', '.join(missing)} "
            f"(expected {', '.join(f'{n}.json' for n in missing)}; train and export them)"
        )


def _frame_with_small_person(clip: list) -> tuple[int, tuple[int, int] | None]:
    for k, f in enumerate(clip):
        centre = figures.find_small_person(f.labels)
        if centre:
            return k, centre
    return 0, None


def _sweep(clip: list, directory: Path, segmenter: Segmenter, engine: str, threads: int) -> list[dict]:
    out = []
    for meta_path in sorted(directory.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("role") != "sr" or "lam" not in meta.get("training", {}).get("summary", {}):
            continue
        name = meta_path.stem
        if not exported_up_to_date(directory, name):  # trained, never (or before a retrain) exported
            log.info("exporting %s for the sweep", name)
            export_model(directory, name)
        res = table1.evaluate_rows(clip, {name: name}, segmenter, directory, engine, threads)[0][name]
        lam = float(meta["training"]["summary"]["lam"])
        out.append({"name": name, "lam": lam, "task": meta["training"]["summary"].get("task"), **res})
    return out


def _or_dash(v: float | None) -> str:
    return f"{v:7.3f}" if v is not None else f"{'-':>7}"


def _print_summary(report: dict) -> None:
    print(f"{'method':<10} {'mIoU':>7} {'person':>7} {'pole':>7} {'PSNR':>7} {'SSIM':>7}")
    for row, r in report["table1"].items():
        cells = [r["miou"], r.get("person"), r.get("pole"), r.get("psnr"), r.get("ssim")]
        print(f"{row:<10} " + " ".join(_or_dash(v) for v in cells))
    lim = report["label_limit"]
    print(f"{'labels x' + str(lim['factor']):<10} {lim['miou']:7.3f} {_or_dash(lim.get('person'))} "
          f"{_or_dash(lim.get('pole'))}   (the scene's own loss on the LR grid: a perfect segmenter's)")  # fmt: skip
    if "fig5" in report:
        f = report["fig5"]["miou_hr_minus_margin"]
        print(f"bandwidth for mIoU >= {f['target_miou']:.3f}: {f['kbps_needed']} ratios {f['ratios']}")
    if "table2" in report:
        t = report["table2"]
        print(f"table2 {t['size']} {t['engine']}: ms {t['ms']}")
    for name, t in report.get("targets", {}).items():
        print(f"target {name}: {'met' if t['met'] else 'MISSED' if t['met'] is False else 'n/a'}")
