"""Declaring a node's parameters from one table, with descriptors, ranges and choices.

Every tunable of a node is one :class:`Param` row: name, default, description
(with its unit), and an integer/floating-point range or a set of allowed strings.
rclpy itself refuses values of the wrong type or outside a declared range, with a
reason; :class:`ParameterTable` adds the "Must be one of: ..." check for strings
and an optional cross-parameter check, and hands accepted changes to the node so
they take effect on the next frame. A value out of range in a params file makes
the node fail at start with a message naming the parameter.

Values are read as people write them, at start and at run time: ``-p fps:=30`` or ``ros2
param set ... fps_cap 5`` (an integer) for a floating-point parameter is taken as 30.0 / 5.0,
and one string for a list of strings as a list of one; any other type mismatch stops the node
at start with one line naming the parameter and the type it takes (at run time rclpy refuses
it with a reason). A name given to the node (params file, ``-p``) that it does not declare is
a warning naming it: a typo in a params file would otherwise run the default unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from cloudseg_ros.errors import ConfigError

ParamValue = bool | int | float | str | list[str]
#: parameters rclpy or ROS tooling declare themselves (not in any node's table)
ROS_OWNED = frozenset({"use_sim_time", "start_type_description_service"})


@dataclass(frozen=True)
class Param:
    """One row of a node's parameter table."""

    name: str
    default: ParamValue
    description: str
    range: tuple[float, float] | None = None  # inclusive; int or float follows the default's type
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, bool):
                raise ValueError(f"{self.name}: a bool parameter has no range")
            if isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            else:
                d.floating_point_range = [
                    FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
                ]
        if self.choices:
            d.additional_constraints = "Must be one of: " + ", ".join(self.choices)
        return d

    def check(self, value: Any) -> str | None:
        """Reason to refuse ``value``, or None. (Types and ranges are also checked by rclpy.)"""
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} refused: must be one of: {', '.join(self.choices)}"
        return None


class ParameterTable:
    """Declares ``params`` on ``node`` and keeps ``values`` in step with accepted changes.

    ``validate(candidate)`` sees the full set of values a change would produce and
    returns a reason to refuse it (or None); ``on_change(changed)`` runs after a change
    was accepted, with only the names that changed.
    """

    def __init__(
        self,
        node: Node,
        params: Sequence[Param],
        validate: Callable[[Mapping[str, Any]], str | None] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._node = node
        self._params = {p.name: p for p in params}
        self._validate = validate
        self._on_change = on_change
        self.values: dict[str, Any] = {}
        for p in params:
            _coerce_override(node, p)
            try:
                value = node.declare_parameter(p.name, p.default, p.descriptor()).value
            except ParameterException as exc:
                raise ConfigError(
                    f"parameter {node.get_name()}.{p.name} (takes {_type_name(p.default)}): {exc}"
                ) from None
            reason = p.check(value)
            if reason:
                raise ConfigError(f"parameter {node.get_name()}.{reason}")
            self.values[p.name] = value
        if validate:
            reason = validate(self.values)
            if reason:
                raise ConfigError(f"parameters of {node.get_name()}: {reason}")
        self._warn_unknown_overrides()
        node.add_pre_set_parameters_callback(self._coerce)
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._apply)

    def _warn_unknown_overrides(self) -> None:
        overrides = getattr(self._node, "_parameter_overrides", None)
        if not isinstance(overrides, dict):
            return
        unknown = sorted(
            name
            for name in overrides
            if name not in self._params and name not in ROS_OWNED and not name.startswith("qos_overrides.")
        )
        if unknown:
            self._node.get_logger().warn(
                f"{self._node.get_name()} has no parameter {', '.join(unknown)} (ignored; a typo in a "
                f"params file?); it takes: {', '.join(self._params)}"
            )

    def _coerce(self, params: list[Parameter]) -> list[Parameter]:
        """The run-time twin of :func:`_coerce_override` (``ros2 param set`` sends 5 as an integer)."""
        return [_coerced(self._params[p.name], p) if p.name in self._params else p for p in params]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def _check(self, params: list[Parameter]) -> SetParametersResult:
        candidate = dict(self.values)
        for p in params:
            spec = self._params.get(p.name)
            if spec is None:
                continue  # e.g. use_sim_time, or parameters another component owns
            reason = spec.check(p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            candidate[p.name] = p.value
        if self._validate:
            reason = self._validate(candidate)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        changed = {}
        for p in params:
            if p.name in self._params and self.values.get(p.name) != p.value:
                self.values[p.name] = p.value
                changed[p.name] = p.value
        if changed:
            self._node.get_logger().info(
                "parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in changed.items())
            )
            if self._on_change:
                try:
                    self._on_change(changed)
                except Exception as exc:  # accepted already: a failure here must not stop the node
                    self._node.get_logger().error(
                        f"applying {', '.join(changed)} failed: {type(exc).__name__}: {exc}"
                    )


def _type_name(default: ParamValue) -> str:
    if isinstance(default, bool):
        return "a bool: true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, list):
        return "a list of strings"
    return "a string"


def _coerced(p: Param, given: Parameter) -> Parameter:
    """An integer given for a float parameter becomes that float; one string given for a list
    of strings becomes a list of one (rclpy would refuse both with a type error)."""
    if isinstance(p.default, float) and given.type_ == Parameter.Type.INTEGER:
        return Parameter(p.name, Parameter.Type.DOUBLE, float(given.value))
    if isinstance(p.default, list) and given.type_ == Parameter.Type.STRING:
        return Parameter(p.name, Parameter.Type.STRING_ARRAY, [given.value])
    return given


def _coerce_override(node: Node, p: Param) -> None:
    overrides = getattr(node, "_parameter_overrides", None)  # rclpy keeps -p/params-file values here
    given = overrides.get(p.name) if isinstance(overrides, dict) else None
    if given is not None:
        overrides[p.name] = _coerced(p, given)
