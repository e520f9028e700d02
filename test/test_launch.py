"""Launch files and configuration, checked statically (ros2 launch cannot run without a ROS install).

Verifies: each launch file is valid Python with generate_launch_description; every
executable it names is a node entry point of setup.py and CMakeLists.txt and its module
exists; every launch argument has a description; config files they name exist; every
parameter in config/*.yaml is declared by the node it configures, with a value of the
declared type inside its range/choices; the RViz layout shows image_raw, overlay, color.
The same node graph runs for real in test_graph.py and test_demo.py.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = sorted((ROOT / "launch").glob("*.launch.py"))
NODE_MODULES = {
    "camera": "camera_node",
    "edge": "edge_node",
    "bridge": "bridge_node",
    "mask": "mask_node",
    "cloud": "cloud_node",
    "controller": "controller_node",
}


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name
    ]


def node_executables(tree: ast.AST) -> set[str]:
    """Executables named in Node(...) calls, directly or through a module-level table."""
    names: set[str] = set()
    for call in calls(tree, "Node"):
        for kw in call.keywords:
            if kw.arg == "executable" and isinstance(kw.value, ast.Constant):
                names.add(kw.value.value)
    for node in ast.walk(tree):  # NODES = (("camera_node", "camera"), ...)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("_node"):
            names.add(node.value)
    return names


def test_there_are_three_launch_files() -> None:
    assert {p.name for p in LAUNCH} == {"robot.launch.py", "cloud.launch.py", "demo.launch.py"}


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_launch_file_parses_and_names_real_things(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    setup_py = (ROOT / "setup.py").read_text()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for exe in node_executables(tree):
        assert f'"{exe}"' in setup_py, f"{exe} is not an entry point in setup.py"
        assert exe in cmake, f"{exe} is not installed by CMakeLists.txt"
        assert (ROOT / "cloudseg_ros" / "nodes" / f"{exe}.py").is_file()
    for call in calls(tree, "DeclareLaunchArgument"):
        described = [kw for kw in call.keywords if kw.arg == "description"]
        assert described, f"{path.name}: launch argument without description"
    for const in (
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ):
        if re.fullmatch(r"[\w.-]+\.(yaml|rviz|xml)", const):
            assert (ROOT / "config" / const).is_file(), const
        if re.fullmatch(r"[\w.-]+\.launch\.py", const):
            assert (ROOT / "launch" / const).is_file(), const


def launch_arguments(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        c.args[0].value for c in calls(tree, "DeclareLaunchArgument") if isinstance(c.args[0], ast.Constant)
    }


def test_documented_launch_commands_use_declared_arguments() -> None:
    """`ros2 launch` ignores an argument a launch file does not declare, silently: every
    `name:=value` in a documented command must be one the file declares."""
    texts = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *LAUNCH,
        *(ROOT / "config").glob("*.json5"),
    ]
    commands = []
    for text in texts:
        joined = text.read_text().replace("\\\n", " ")  # shell line continuations
        commands += re.findall(r"ros2 launch cloudseg_ros (\S+\.launch\.py)([^\n`]*)", joined)
    assert len(commands) >= 8, commands
    for name, args in commands:
        path = ROOT / "launch" / name
        assert path.is_file(), name
        unknown = set(re.findall(r"(\w+):=", args)) - launch_arguments(path)
        assert not unknown, f"{name} does not declare {sorted(unknown)} (used in: {name}{args})"


def argument_defaults(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = {}
    for c in calls(tree, "DeclareLaunchArgument"):
        default = next((kw.value for kw in c.keywords if kw.arg == "default_value"), None)
        out[c.args[0].value] = default.value if isinstance(default, ast.Constant) else default
    return out


@pytest.mark.parametrize(
    "name,arguments",
    [("robot.launch.py", ("cloud", "source", "uri", "width", "height")), ("cloud.launch.py", ("listen",))],
)
def test_launch_arguments_that_set_parameters_default_to_the_params_file(name: str, arguments: tuple) -> None:
    """A default of the launch file's own would override the user's params_file every time."""
    defaults = argument_defaults(ROOT / "launch" / name)
    assert all(defaults[a] == "" for a in arguments), {a: defaults[a] for a in arguments}


def test_launch_overrides_only_what_was_given() -> None:
    from cloudseg_ros.launch_args import cloud_overrides, robot_overrides

    unset = {"cloud": "", "zenoh_config_file": "", "source": "", "uri": ""}
    assert robot_overrides(unset) == {"bridge": {}, "camera": {}}  # every value from the params file
    given = robot_overrides(
        {**unset, "cloud": "tls/a:7447, tcp/b:7447", "source": "v4l2", "uri": "/dev/video0"}
    )
    assert given == {"bridge": {"connect": ["tls/a:7447", "tcp/b:7447"]},
                     "camera": {"source": "v4l2", "uri": "/dev/video0"}}  # fmt: skip
    assert cloud_overrides({"listen": "", "zenoh_config_file": "", "engine": "", "sr_model": ""}) == {
        "bridge": {},
        "cloud": {},
    }
    cloud = cloud_overrides({"listen": "tcp/0.0.0.0:7447", "zenoh_config_file": "c.json5", "engine": "torch"})
    assert cloud == {"bridge": {"listen": ["tcp/0.0.0.0:7447"], "zenoh_config_file": "c.json5"},
                     "cloud": {"engine": "torch"}}  # fmt: skip
    # What the shipped parameters file says when nothing is given: what the launch files used to.
    robot = yaml.safe_load((ROOT / "config" / "robot.yaml").read_text())
    params = {k.split("/")[-1]: v["ros__parameters"] for k, v in robot.items()}
    assert params["bridge"]["connect"] == ["tcp/127.0.0.1:7447"] and params["camera"]["source"] == "synthetic"


def test_launch_arguments_are_checked_and_mapped() -> None:
    """What robot.launch.py and cloud.launch.py do with their arguments (launch_args has no
    ROS import; the launch files call it)."""
    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.launch_args import (
        DDS_PROFILE_VAR,
        check_params_file,
        dds_env,
        flag,
        image_remaps,
        robot_overrides,
    )

    unset = {"cloud": "", "zenoh_config_file": "", "source": "", "uri": "", "width": "", "height": ""}
    assert robot_overrides({**unset, "source": "v4l2", "width": "0", "height": "0"})["camera"] == {
        "source": "v4l2", "width": 0, "height": 0}  # fmt: skip
    with pytest.raises(ConfigError, match="width"):
        robot_overrides({**unset, "width": "wide"})
    # A switch that is neither true nor false is refused (a typo would run without the controller).
    assert flag("controller", "True") and flag("camera", "1") and not flag("camera", "false")
    with pytest.raises(ConfigError, match="controller:='ture'"):
        flag("controller", "ture")
    # launch_ros would only warn about a missing params file and start the nodes on code defaults.
    assert check_params_file(str(ROOT / "config" / "robot.yaml"))
    with pytest.raises(ConfigError, match=r"params_file:=/nonexistent/robot\.yaml"):
        check_params_file("/nonexistent/robot.yaml")
    # The robot's own camera: the edge and the mask node read its topic.
    assert image_remaps("/front/image_raw") == [
        ("camera/image_raw", "/front/image_raw")
    ] and not image_remaps("")
    # DDS: the shipped profile unless the user chose one; "none" leaves DDS alone; a file must exist.
    shipped = str(ROOT / "config" / "fastdds.xml")
    assert dds_env("", {}, shipped) == {DDS_PROFILE_VAR: shipped}
    assert dds_env("", {DDS_PROFILE_VAR: "/etc/mine.xml"}, shipped) == {}
    assert dds_env("none", {}, shipped) == {} and dds_env("NONE", {}, shipped) == {}
    assert dds_env(shipped, {}, "x") == {DDS_PROFILE_VAR: shipped}
    with pytest.raises(ConfigError, match="dds_profile"):
        dds_env("/nonexistent.xml", {}, shipped)


@pytest.mark.parametrize("name", ["robot.launch.py", "cloud.launch.py"])
def test_launch_files_set_the_dds_profile_per_node(name: str) -> None:
    """A launch-wide SetEnvironmentVariable leaked the loopback-only DDS profile into every
    node a parent launch file started after including this one (a driving stack's planner)."""
    tree = ast.parse((ROOT / "launch" / name).read_text())
    assert not calls(tree, "SetEnvironmentVariable")
    (node,) = calls(tree, "Node")
    assert "additional_env" in {kw.arg for kw in node.keywords}


def test_demo_launch_passes_each_graph_only_its_arguments() -> None:
    """Forwarding every launch configuration gave the cloud nodes the robot's params_file."""
    tree = ast.parse((ROOT / "launch" / "demo.launch.py").read_text())
    (group,) = calls(tree, "GroupAction")
    forwarding = [kw.value.value for kw in group.keywords if kw.arg == "forwarding"]
    assert forwarding == [False]


def declared(node: str) -> dict:
    module = importlib.import_module(f"cloudseg_ros.nodes.{node}_node")  # node name = executable - _node
    return {p.name: p for p in module.PARAMS}


@pytest.mark.parametrize("config", ["robot.yaml", "cloud.yaml"])
def test_config_values_are_declared_and_valid(config: str) -> None:
    data = yaml.safe_load((ROOT / "config" / config).read_text())
    assert data, config
    for section, body in data.items():
        node = section.split("/")[-1]
        params = declared(node)
        for name, value in body["ros__parameters"].items():
            assert name in params, f"{config}: {node}.{name} is not a declared parameter"
            spec = params[name]
            assert type(value) is type(spec.default) or (
                isinstance(spec.default, float) and isinstance(value, int)
            ), f"{config}: {node}.{name}={value!r} has the wrong type"
            assert spec.check(value) is None, f"{config}: {node}.{name}={value!r}"
            if spec.range is not None:
                assert spec.range[0] <= value <= spec.range[1], (
                    f"{config}: {node}.{name}={value!r} out of range"
                )


def test_rviz_layout_shows_the_outputs() -> None:
    rviz = yaml.safe_load((ROOT / "config" / "cloudseg.rviz").read_text())
    topics = {d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]}
    assert {"/car1/camera/image_raw", "/car1/segmentation/overlay", "/car1/segmentation/color"} <= topics


@pytest.mark.parametrize("node", sorted(NODE_MODULES))
def test_the_readme_lists_every_parameter_of_each_node(node: str) -> None:
    row = re.search(rf"^\| {node} \| (.*) \|$", (ROOT / "README.md").read_text(), re.M)
    assert row, f"README.md has no parameter row for {node}"
    listed = set(re.findall(r"`(\w+)`", row.group(1)))
    names = set(declared(node))
    assert not names - listed, f"README.md does not list {sorted(names - listed)} for {node}"
    assert not listed - names, f"README.md lists {sorted(listed - names)} that {node} does not declare"


def test_the_readme_documents_every_message() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [p.stem for p in sorted((ROOT / "msg").glob("*.msg")) if f"`{p.stem}`" not in readme]
    assert not missing, f"README.md does not mention {missing}"


CLI_SUBCOMMANDS = "demo|synth|train|export|eval|profile|netem|record|certs"


def documented_cli_commands(text: str) -> list[str]:
    """`cloudseg <sub> ...` commands in fenced blocks and inline code; a bare `cloudseg <sub>`
    (naming the command) and a span with "..." (a fragment) are not commands to run."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.split("#")[0].strip())
    for span in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
        found.append(" ".join(span.split()))
    return [
        c for c in found
        if re.match(rf"cloudseg ({CLI_SUBCOMMANDS}) ", c) and "..." not in c and "--help" not in c
    ]  # fmt: skip


def test_documented_cli_commands_parse(capsys: pytest.CaptureFixture[str]) -> None:
    """Every `cloudseg` command the docs show parses as written (several lacked a required
    --out and would stop at once with a usage error)."""
    import shlex

    from cloudseg_ros.cli import build_parser

    docs = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "cloudseg_ros" / "weights" / "README.md",
    ]
    commands = [(d.name, c) for d in docs for c in documented_cli_commands(d.read_text())]
    assert len(commands) >= 20, commands
    failed = []
    for where, command in commands:
        try:
            build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit:
            failed.append(f"{where}: {command}: {capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not failed, "\n".join(failed)


def test_ros_install_requirements_pin_what_the_venv_tests() -> None:
    """requirements-ros.txt (a ROS install, README) pins the versions requirements.txt pins
    (what `make test` runs with) and leaves the ROS distribution's own packages to rosdep."""

    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        pairs = (line.split("#")[0].strip().split("==") for line in lines)
        return {p[0].split("[")[0].lower(): p[1] for p in pairs if len(p) == 2}

    robot, cloud, venv = (
        pins("requirements-ros.txt"),
        pins("requirements-ros-cloud.txt"),
        pins("requirements.txt"),
    )
    ros = {**robot, **cloud}
    assert robot and cloud and all(venv.get(name) == version for name, version in ros.items()), (ros, venv)
    assert not {n for n in ros if n.startswith("ros-") or n in {"numpy", "opencv-python-headless", "pyyaml"}}
    # The robot's nodes need no inference packages (torch is GBs from the registry).
    assert not {"torch", "onnx", "onnxruntime"} & set(robot)
    assert "-r requirements-ros.txt" in (ROOT / "requirements-ros-cloud.txt").read_text()
    package = (ROOT / "package.xml").read_text()
    assert all(f"<exec_depend>{key}</exec_depend>" in package for key in ("python3-numpy", "python3-opencv"))
