"""The `cloudseg` CLI refuses numbers it cannot use at parse time, with one line naming the
option: argparse takes ``nan``, ``inf``, negative durations and zero threads as numbers, and
the commands failed on them later with a traceback (a demo only after its graph had started)."""

from __future__ import annotations

import pytest

from cloudseg_ros.cli import main


@pytest.mark.parametrize(
    "argv,problem",
    [
        (["demo", "--duration", "nan"], "--duration: 'nan' is not a finite number"),
        (["demo", "--fps", "inf"], "--fps: 'inf' is not a finite number"),
        (["demo", "--fps", "0"], "--fps: '0': must be > 0"),
        (["demo", "--robots", "0"], "--robots: '0': must be >= 1"),
        (["demo", "--duration", "ten"], "--duration: 'ten' is not a number"),
        (["eval", "--out", "x", "--threads", "0"], "--threads: '0': must be >= 1"),
        (["netem", "--trace", "shape:const-100k", "--duration", "inf", "--out", "x"], "--duration"),
        (["netem", "--trace", "shape:const-100k", "--duration", "5", "--out", "x", "--delay-ms", "-1"],
         "--delay-ms: '-1': must be >= 0"),
        (["profile", "--out", "x.yaml", "--fps", "nan"], "--fps"),
        (["record", "x.mcap", "--domain", "300"], "ROS domain 300 out of range 0..232"),
        (["train", "seg", "--iters", "0"], "--iters: '0': must be >= 1"),
        (["synth", "--out", "x", "--frames", "-3"], "--frames: '-3': must be >= 1"),
        (["profile", "--out", "x.yaml", "--downscales", "4", "0"], "--downscales: '0': must be >= 1"),
        (["profile", "--out", "x.yaml", "--engine", "tensorrt-fp16"], "--engine: invalid choice"),
        (["eval", "--out", "x", "--engine", "onnx"], "--engine: invalid choice"),
        (["demo", "--downscale", "0"], "--downscale: '0': must be in 1..16"),
        (["demo", "--bitrate", "5"], "--bitrate: '5': must be in 10..200000"),
        (["demo", "--sr-model", "edsr"], "sr_model='edsr' refused: must be one of"),
        (["demo", "--seed", "-1"], "--seed: '-1': must be in 0..2147483647"),
        # the scene takes seeds modulo 2**64: -1 evaluated the scene of 2**64 - 1 without a word
        (["eval", "--out", "x", "--scene-seed", "1000", "-1"], "--scene-seed: '-1': must be in 0..2147483647"),
        (["synth", "--out", "x", "--seed", str(2**31)], "--seed: '2147483648': must be in 0..2147483647"),
        (["netem", "--trace", "x", "--out", "x", "--scene-seed", "-3"], "--scene-seed: '-3': must be in"),
    ],
)  # fmt: skip
def test_unusable_numbers_are_refused_naming_the_option(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err, err


def test_a_robot_name_that_is_no_ros_namespace_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "x.mcap", "--robot", "car-1", "--duration", "1"]) == 1
    err = capsys.readouterr().err
    assert "'car-1' is not a valid ROS namespace" in err and "Traceback" not in err, err


def test_profile_takes_a_camera_size_that_is_no_multiple_of_32(tmp_path) -> None:
    """320x180 (16:9, like 1280x720): served padded to the segmenter's multiple, as the cloud
    serves such a camera, and the profile written loads as the controller loads it."""
    from cloudseg_ros.controller.profile import load_profile

    out = tmp_path / "p.yaml"
    argv = ["profile", "--out", str(out), "--quick", "--size", "320x180", "--scene-seed", "2000",
            "--frames", "4", "--downscales", "2", "4"]  # fmt: skip
    assert main(argv) == 0
    points = load_profile(out)
    assert len(points) >= 2 and all(0 < p.miou <= 1 for p in points)


def test_engine_names_are_the_engines(capsys: pytest.CaptureFixture[str]) -> None:
    from cloudseg_ros.commands.argtypes import ENGINES
    from cloudseg_ros.engines import ENGINE_KINDS

    assert ENGINES == ENGINE_KINDS


def test_profile_refuses_frames_the_models_were_trained_on(tmp_path, capsys) -> None:
    """The profile is measured on held-out frames, as eval's tables are: seed 5 is a
    training seed of the shipped segmenter. Refused before any frame is measured."""
    out = tmp_path / "p.yaml"
    assert main(["profile", "--out", str(out), "--quick", "--scene-seed", "5", "--frames", "2"]) == 1
    err = capsys.readouterr().err
    assert "5" in err and "Traceback" not in err and not out.exists(), err


def test_profile_refuses_a_plot_it_cannot_write_before_measuring(tmp_path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    argv = ["profile", "--out", str(tmp_path / "p.yaml"), "--plot", str(blocker / "sub" / "p.png"), "--quick"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cannot write to" in err and str(blocker) in err and "Traceback" not in err, err


def test_demo_refuses_a_seed_its_last_robot_cannot_take(capsys) -> None:
    assert main(["demo", "--seed", str(2**31 - 1), "--robots", "2"]) == 1
    assert "the last robot's seed '2147483648': must be in 0..2147483647" in capsys.readouterr().err
