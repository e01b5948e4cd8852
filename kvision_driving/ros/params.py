"""Declared, described, range-checked node parameters.

A node lists its parameters once as :class:`ParamSpec` values; :func:`declare_parameters`
declares them with descriptors (so ``ros2 param describe`` shows description and range),
checks every value (from defaults, YAML files or ``-p``) and raises :class:`ParameterError`
naming every bad one, so a misconfigured node stops at start with a clear message.

Nodes read their parameters when they start. A change at run time (``ros2 param set``) is refused,
with the reason, unless the spec says the node applies it (``dynamic=True``): a node never reports
success for a value it does not use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

ParamValue = bool | int | float | str | list[str] | list[float] | list[int]


class ParameterError(ValueError):
    """One or more parameters are invalid; the message lists them all."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type fixes the parameter type), description, limits."""

    name: str
    default: ParamValue
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    read_only: bool = False
    dynamic: bool = False  # the node reads it again on every use, so a change at run time takes effect

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" (one of: {', '.join(self.choices)})"
        descriptor = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.is_float:
            # `-p rate_hz:=30` arrives as an integer: accept it (check() validates, declare coerces).
            descriptor.dynamic_typing = True
        if self.min_value is not None and self.max_value is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                descriptor.integer_range = [
                    IntegerRange(from_value=int(self.min_value), to_value=int(self.max_value), step=0)
                ]
            elif isinstance(self.default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(self.min_value), to_value=float(self.max_value), step=0.0)
                ]
        return descriptor

    @property
    def is_float(self) -> bool:
        return isinstance(self.default, float)

    def check(self, value: ParamValue) -> str | None:
        """The reason ``value`` is invalid, or None."""
        expected: tuple[type, ...] = (int, float) if self.is_float else (type(self.default),)
        if isinstance(self.default, bool) != isinstance(value, bool) or not isinstance(value, expected):
            return f"{self.name}: expected {type(self.default).__name__}, got {value!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value:  # NaN
                return f"{self.name}: NaN is not allowed"
            if self.min_value is not None and value < self.min_value:
                return f"{self.name}: {value} is below the minimum {self.min_value}"
            if self.max_value is not None and value > self.max_value:
                return f"{self.name}: {value} is above the maximum {self.max_value}"
        if self.choices and value not in self.choices:
            return f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
        return None


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, ParamValue]:
    """Declare every spec on ``node``, validate the effective values and return them by name.

    Later changes (``ros2 param set``) are refused for parameters read only at start, and validated by
    the same rules for the dynamic ones.
    """
    problems: list[str] = []
    values: dict[str, ParamValue] = {}
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        try:
            parameter = node.declare_parameter(spec.name, spec.default, spec.descriptor())
        except (InvalidParameterValueException, InvalidParameterTypeException) as error:
            problems.append(f"{spec.name}: {error}")
            continue
        except (TypeError, ValueError) as error:  # wrong type from a YAML file or -p
            problems.append(f"{spec.name}: {error}")
            continue
        value = parameter.value
        reason = spec.check(value)
        if reason:
            problems.append(reason)
        elif spec.is_float and not isinstance(value, float):
            value = float(value)
            node.set_parameters([Parameter(spec.name, Parameter.Type.DOUBLE, value)])
        values[spec.name] = value
    if problems:
        raise ParameterError(f"invalid parameters for node {node.get_name()}:\n  " + "\n  ".join(problems))

    def on_set(parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            if spec is None:
                continue  # not ours (use_sim_time and the like): rclpy's own rules apply
            if not spec.dynamic:
                reason = f"{spec.name} is read when the node starts: restart the node to change it"
            else:
                reason = spec.check(parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)  # after the float coercion above, which it would refuse
    return values
