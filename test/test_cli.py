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
        (["profile", "--out", "x.yaml", "--downscales", "4", "0"], "--downscales: '0': must be in 1..16"),
        # the edge's own range: 64 failed with a ValueError only after every configuration was measured
        (["profile", "--out", "x.yaml", "--downscales", "64"], "--downscales: '64': must be in 1..16"),
        (["demo", "--hr-size", "5000x512"], "--hr-size: 5000x512 out of range (64x32 .. 4096x4096)"),
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
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{blocker} exists and is not a folder" in err and "Traceback" not in err, err


def test_demo_refuses_a_seed_its_last_robot_cannot_take(capsys) -> None:
    assert main(["demo", "--seed", str(2**31 - 1), "--robots", "2"]) == 1
    assert "the last robot's seed '2147483648': must be in 0..2147483647" in capsys.readouterr().err


# --- outputs a command cannot write: refused when parsed, before any work -------------------


@pytest.mark.parametrize(
    "argv,problem",
    [
        (["demo", "--out", "{file}"], "--out: '{file}': {file} exists and is not a folder"),
        (["demo", "--record", "{dir}"], "--record: '{dir}' is a folder"),
        (["eval", "--out", "{file}"], "{file} exists and is not a folder"),
        (["certs", "--out", "{file}"], "{file} exists and is not a folder"),
        (["netem", "--trace", "shape:const-100k", "--duration", "5", "--out", "{file}"], "is not a folder"),
        (["synth", "--frames", "1", "--out", "{file}/data"], "--out: '{file}/data': {file} exists and is not a folder"),
        (["train", "seg", "--out", "{file}"], "--out: '{file}': {file} exists and is not a folder"),
        # an existing folder as the profile: IsADirectoryError after every configuration was measured
        (["profile", "--out", "{dir}"], "--out: '{dir}' is a folder; give a file name"),
        (["profile", "--out", "{dir}/p.yaml", "--plot", "{dir}"], "--plot: '{dir}' is a folder"),
    ],
)  # fmt: skip
def test_an_output_that_cannot_be_written_is_refused_when_parsed(
    argv: list[str], problem: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each gave a traceback (FileExistsError, NotADirectoryError, IsADirectoryError), some
    only after frames were rendered, models measured or the graph started."""
    paths = {"file": str(tmp_path / "a_file"), "dir": str(tmp_path)}
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main([a.format(**paths) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert problem.format(**paths) in err and "Traceback" not in err, err


def test_an_os_error_is_one_line_naming_the_file(tmp_path, capsys) -> None:
    """What no check foresees (here a folder where --force would write the CA) is one line."""
    (tmp_path / "ca.pem").mkdir()
    assert main(["certs", "--out", str(tmp_path), "--force"]) == 1
    err = capsys.readouterr().err
    assert err == f"cloudseg certs: error: Is a directory: {tmp_path / 'ca.pem'}\n", err


@pytest.mark.parametrize("value", ["abc", "-3", "500", "1.5"])
def test_a_ros_domain_id_from_the_environment_is_checked(value: str) -> None:
    from cloudseg_ros.commands.argtypes import env_ros_domain
    from cloudseg_ros.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^\$ROS_DOMAIN_ID="):
        env_ros_domain({"ROS_DOMAIN_ID": value})


def test_ros_domain_id_unset_or_empty_is_0_as_ros_takes_it() -> None:
    from cloudseg_ros.commands.argtypes import env_ros_domain

    assert env_ros_domain({}) == env_ros_domain({"ROS_DOMAIN_ID": ""}) == 0
    assert env_ros_domain({"ROS_DOMAIN_ID": " 42 "}) == 42


def test_synth_refuses_a_frame_larger_than_the_demo_renders(tmp_path, capsys) -> None:
    """100000 pixels wide failed as a 131 GiB allocation; the demo's camera range for both."""
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--frames", "1", "--width", "100000"]) == 1
    err = capsys.readouterr().err
    assert "--width/--height 100000x512 out of range (64x32 .. 4096x4096)" in err, err
    assert not out.exists()


# --- train and export: the package's weights folder ---------------------------------------


def test_train_and_export_help_show_where_they_write_and_read(capsys) -> None:
    """The default was "cloudseg_ros/weights" relative to the current folder, not in --help."""
    from cloudseg_ros.cli import build_parser
    from cloudseg_ros.models.checkpoint import SHIPPED_WEIGHTS_DIR

    parser = build_parser()
    assert parser.parse_args(["train", "seg"]).out == SHIPPED_WEIGHTS_DIR
    assert parser.parse_args(["export"]).weights == str(SHIPPED_WEIGHTS_DIR)
    for command in ("train", "export"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert str(SHIPPED_WEIGHTS_DIR) in "".join(capsys.readouterr().out.split())  # wrapped anywhere


def test_train_refuses_to_replace_a_shipped_model_before_training(capsys) -> None:
    """Run in the repository, `train seg` overwrote the shipped segmenter without a word."""
    from cloudseg_ros.models.checkpoint import SHIPPED_WEIGHTS_DIR

    shipped = SHIPPED_WEIGHTS_DIR / "icnet.pt"
    before = shipped.stat().st_mtime_ns
    assert main(["train", "seg", "--iters", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{shipped} is a shipped model: --force to replace it" in err, err
    assert shipped.stat().st_mtime_ns == before


def test_a_checkout_weights_folder_is_the_package_s(tmp_path) -> None:
    """`--out cloudseg_ros/weights` in a checkout is what `make setup` installs: shipped too."""
    from cloudseg_ros.models.checkpoint import SHIPPED_WEIGHTS_DIR, is_package_weights

    package = tmp_path / "cloudseg_ros"
    (package / "weights").mkdir(parents=True)
    assert not is_package_weights(package / "weights")  # no package there
    (package / "__init__.py").write_text("")
    assert is_package_weights(package / "weights") and is_package_weights(SHIPPED_WEIGHTS_DIR)
    assert not is_package_weights(tmp_path)


def test_export_refuses_a_missing_folder(tmp_path, capsys) -> None:
    assert main(["export", "--weights", str(tmp_path / "none")]) == 1
    assert f"--weights {tmp_path / 'none'}: no such folder" in capsys.readouterr().err


# --- netem: the plan before anything is set up ---------------------------------------------

NETEM = ["netem", "--trace", "shape:const-100k", "--duration", "5", "--mode", "loopback",
         "--scene-frames", "2"]  # fmt: skip


def test_netem_refuses_a_plan_with_nothing_to_run(tmp_path, capsys) -> None:
    """It reported success with an empty table and overwrote netem.json."""
    out = tmp_path / "n"
    assert main([*NETEM, "--out", str(out), "--fixed", "--no-controller"]) == 1
    assert "nothing to run" in capsys.readouterr().err and not out.exists()


def test_netem_refuses_a_scene_the_models_were_trained_on(tmp_path, capsys) -> None:
    """Its default was scene seed 7, a training seed: the tables' mIoU was measured on a scene
    the segmenter had seen. Refused before anything runs, as in eval and profile."""
    from cloudseg_ros.netem import SCENE_SEED

    out = tmp_path / "n"
    assert main([*NETEM, "--out", str(out), "--scene-seed", "7"]) == 1
    assert "[7] were used for training" in capsys.readouterr().err and not out.exists()
    from cloudseg_ros.evaluation.frames import MODEL_NAMES, check_held_out
    from cloudseg_ros.models.checkpoint import weights_dir

    check_held_out([SCENE_SEED], weights_dir(None), MODEL_NAMES)  # the default is held out


def test_netem_names_the_profile_points_for_an_unknown_fixed_one(tmp_path, capsys) -> None:
    """A quoted KeyError text, after the scene was rendered and namespaces set up."""
    from cloudseg_ros.controller.profile import load_profile
    from cloudseg_ros.paths import config_file

    out = tmp_path / "n"
    assert main([*NETEM, "--out", str(out), "--fixed", "bogus"]) == 1
    err = capsys.readouterr().err
    names = [p.name for p in load_profile(config_file("profile.yaml")).points]
    assert "--fixed bogus: not a point of profile" in err and f"one of: {', '.join(names)}" in err, err
    assert '"' not in err and not out.exists()


def test_netem_help_says_the_limits_it_checks(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["netem", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(at least 5)" in text and "0 <= loss < 0.5" in text


# --- eval: model folders before frames -----------------------------------------------------

EVAL = ["eval", "--scene-seed", "1000", "--frames", "1", "--size", "64x32", "--no-fig5", "--no-table2"]


@pytest.mark.parametrize(
    "option,empty,problem",
    [
        ("--weights", False, "--weights {d}: no such folder"),
        ("--runs", False, "--runs {d}: no such folder"),
        ("--runs", True, "--runs {d}: no model metadata for espcn, carn_m, carn_m_cloudseg"),
        ("--sweep", True, "--sweep {d}: no model metadata (*.json) in it"),
    ],
)
def test_eval_checks_model_folders_before_rendering(option, empty, problem, tmp_path, capsys) -> None:
    """A missing --runs or --weights folder failed only after frames and Table 1."""
    d = tmp_path / "models"
    if empty:
        d.mkdir()
    out = tmp_path / "e"
    assert main([*EVAL, "--out", str(out), option, str(d)]) == 1
    err = capsys.readouterr().err
    assert problem.format(d=d) in err and "Traceback" not in err, err
    assert not out.exists()


# --- demo: its own outputs only --------------------------------------------------------------


def test_demo_removes_only_its_own_old_snapshots(tmp_path) -> None:
    """It deleted snapshot_*.png in whatever --out it was given."""
    from cloudseg_ros.demo.run import remove_old_snapshots

    (tmp_path / "snapshot_1.png").write_bytes(b"someone's picture")
    assert remove_old_snapshots(tmp_path) == [] and (tmp_path / "snapshot_1.png").exists()
    (tmp_path / "report.json").write_text("{}")  # an earlier demo's folder
    assert remove_old_snapshots(tmp_path) == [tmp_path / "snapshot_1.png"]
    assert not (tmp_path / "snapshot_1.png").exists()


def test_demo_refuses_to_record_over_a_file_before_starting(tmp_path, capsys) -> None:
    """The recorder does not overwrite a recording; the demo said so only after its graph had
    started and played."""
    existing = tmp_path / "run.mcap"
    existing.write_bytes(b"mine")
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--record", str(existing)])
    assert rc == 1 and "exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"mine" and not (tmp_path / "demo" / "logs").exists()
