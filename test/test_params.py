"""Parameter tables on a real rclpy node: descriptors, ranges, choices, refusals with reasons.

Verifies through the node's own parameter API (what `ros2 param set` and the
controller's set_parameters service end in): out-of-range, wrong-type and
not-a-choice values are refused with a reason and change nothing; accepted changes
reach the node's callback; a bad value at start-up fails with a message naming the
parameter. The service round trip itself is exercised in test_graph.py.
"""

from __future__ import annotations

import pytest
import rclpy
from rclpy.parameter import Parameter

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.nodes.params import Param, ParameterTable

TABLE = (
    Param("codec", "h264", "codec", choices=("h264", "jpeg")),
    Param("downscale", 4, "factor", range=(1, 8)),
    Param("threshold", 0.5, "thr", range=(0.0, 1.0)),
    Param("low", 0.1, "low", range=(0.0, 1.0)),
)


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=201)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def make_node(context, overrides=None, changes=None):
    node = rclpy.create_node(
        "params_test",
        context=context,
        parameter_overrides=[Parameter(k, value=v) for k, v in (overrides or {}).items()],
    )

    def validate(v):
        return "low must not exceed threshold" if v["low"] > v["threshold"] else None

    table = ParameterTable(
        node, TABLE, validate=validate, on_change=(changes.update if changes is not None else None)
    )
    return node, table


def test_descriptors_carry_ranges_and_choices(context) -> None:
    node, _ = make_node(context)
    d = node.describe_parameter("downscale")
    assert d.integer_range[0].from_value == 1 and d.integer_range[0].to_value == 8
    assert "Must be one of: h264, jpeg" in node.describe_parameter("codec").additional_constraints
    assert node.describe_parameter("threshold").floating_point_range[0].to_value == 1.0
    node.destroy_node()


def test_refusals_have_reasons_and_change_nothing(context) -> None:
    changes: dict = {}
    node, table = make_node(context, changes=changes)
    cases = [
        Parameter("downscale", value=9),  # out of range
        Parameter("downscale", value="4"),  # wrong type
        Parameter("codec", value="vp9"),  # not a choice
        Parameter("low", value=0.9),  # cross-check against threshold
    ]
    for p in cases:
        (result,) = node.set_parameters([p])
        assert not result.successful, p.name
        assert result.reason, p.name
    assert "must be one of" in node.set_parameters([Parameter("codec", value="vp9")])[0].reason
    assert table["downscale"] == 4 and table["codec"] == "h264" and changes == {}
    node.destroy_node()


def test_accepted_change_reaches_the_node(context) -> None:
    changes: dict = {}
    node, table = make_node(context, changes=changes)
    (result,) = node.set_parameters([Parameter("codec", value="jpeg")])
    assert result.successful
    assert table["codec"] == "jpeg" and changes == {"codec": "jpeg"}
    node.destroy_node()


def test_bad_start_value_names_the_parameter(context) -> None:
    with pytest.raises(ConfigError, match="downscale"):
        make_node(context, overrides={"downscale": 40})
    with pytest.raises(ConfigError, match="codec"):
        make_node(context, overrides={"codec": "mpeg2"})


def test_start_values_are_read_as_people_write_them(context) -> None:
    """`-p threshold:=1` is an integer in YAML; the float parameter takes it as 1.0, and one
    string for a list of strings is a list of one. Other mismatches stop with one line."""
    node, table = make_node(context, overrides={"threshold": 1, "low": 0})
    assert table["threshold"] == 1.0 and isinstance(table["threshold"], float)
    assert node.get_parameter("low").type_ == Parameter.Type.DOUBLE
    node.destroy_node()
    listed = rclpy.create_node(
        "params_list", context=context, parameter_overrides=[Parameter("peers", value="tcp/127.0.0.1:7447")]
    )
    table = ParameterTable(listed, (Param("peers", ["tcp/127.0.0.1:1"], "endpoints"),))
    assert table["peers"] == ["tcp/127.0.0.1:7447"]
    listed.destroy_node()
    with pytest.raises(ConfigError, match=r"threshold \(takes a number\)"):
        make_node(context, overrides={"threshold": "high"})
    with pytest.raises(ConfigError, match=r"downscale \(takes an integer\)"):
        make_node(context, overrides={"downscale": 2.5})
    with pytest.raises(ConfigError, match="threshold"):  # coerced, then still checked against its range
        make_node(context, overrides={"threshold": 3})


def test_run_time_values_are_read_as_people_write_them(context) -> None:
    """`ros2 param set /car1/edge fps_cap 5` sends an integer: taken as 5.0 (was refused as
    the wrong type); still checked against the range; a string stays refused."""
    changes: dict = {}
    node, table = make_node(context, changes=changes)
    (result,) = node.set_parameters([Parameter("threshold", value=1)])
    assert result.successful and table["threshold"] == 1.0 and isinstance(table["threshold"], float)
    assert node.get_parameter("threshold").type_ == Parameter.Type.DOUBLE
    assert not node.set_parameters([Parameter("threshold", value=3)])[0].successful
    assert not node.set_parameters([Parameter("threshold", value="1")])[0].successful
    assert node.set_parameters_atomically(
        [Parameter("low", value=0), Parameter("codec", value="jpeg")]
    ).successful
    assert table["low"] == 0.0 and table["codec"] == "jpeg"
    node.destroy_node()


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def warn(self, text: str, **_: object) -> None:
        self.lines.append(("warn", text))

    def info(self, text: str, **_: object) -> None:
        self.lines.append(("info", text))

    def error(self, text: str, **_: object) -> None:
        self.lines.append(("error", text))


def test_a_name_the_node_does_not_take_is_a_warning(context, monkeypatch) -> None:
    """A typo in a params file (`bitrate_kpbs`) ran the default without a word."""
    node = rclpy.create_node(
        "params_typo",
        context=context,
        parameter_overrides=[Parameter("downscle", value=8), Parameter("use_sim_time", value=False)],
    )
    log = _Log()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    table = ParameterTable(node, TABLE)
    warnings = [text for level, text in log.lines if level == "warn"]
    assert len(warnings) == 1 and "downscle" in warnings[0] and "downscale" in warnings[0]
    assert "use_sim_time" not in warnings[0] and table["downscale"] == 4
    node.destroy_node()


def test_a_failure_applying_an_accepted_change_does_not_stop_the_node(context, monkeypatch) -> None:
    """A post-set callback cannot refuse: an exception there propagated out of the node's
    executor and stopped the process (a cloud bridge told max_in_flight died so)."""
    node = rclpy.create_node("params_apply", context=context)
    log = _Log()
    monkeypatch.setattr(node, "get_logger", lambda: log)

    def broken(changed: dict) -> None:
        raise AttributeError("no window")

    table = ParameterTable(node, TABLE, on_change=broken)
    (result,) = node.set_parameters([Parameter("downscale", value=2)])
    assert result.successful and table["downscale"] == 2
    assert any(level == "error" and "downscale" in text and "no window" in text for level, text in log.lines)
    node.destroy_node()
