"""Static checks of launch/ (ros2 launch is not on pip machines): executables, parameter files, parameter names.

Every launch file is parsed (not run): each Node of this package must name one of its console
scripts, each parameter file must exist, and each parameter key in those files and in inline
dictionaries must be declared by that node (its module's PARAMS and the node base's COMMON_PARAMS).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

PACKAGE = "kvision_driving"
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
BUILT_IN = {"use_sim_time"}  # declared by rclpy itself


def console_scripts() -> dict[str, str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    nodes = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES")
    return {
        key.value: value.value.split(":")[0] for key, value in zip(nodes.value.keys, nodes.value.values, strict=True)
    }


def declared_parameters(module: str) -> set[str]:
    """Names of the node module's PARAMS (shared sets such as MODEL_PARAMS included) and the node base's."""
    from kvision_driving.ros.node import COMMON_PARAMS

    specs = importlib.import_module(module).PARAMS
    return BUILT_IN | {spec.name for spec in (*specs, *COMMON_PARAMS)}


def launch_nodes(path: Path) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"
    ]


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_there_are_launch_files_for_vehicle_replay_and_simulation() -> None:
    assert {p.name for p in LAUNCH_FILES} >= {"perception.launch.py", "replay.launch.py", "sim.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_are_real(path: Path) -> None:
    scripts = console_scripts()
    source = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in source.body)
    for call in launch_nodes(path):
        package = keyword(call, "package")
        if (
            not (isinstance(package, ast.Name) and package.id == "PACKAGE")
            and getattr(package, "value", None) != PACKAGE
        ):
            continue  # another package's node (rviz2)
        executable = keyword(call, "executable").value
        assert executable in scripts, f"{path.name}: {executable} is not a console script of {PACKAGE}"
        declared = declared_parameters(scripts[executable])
        node_name = keyword(call, "name").value
        parameters = keyword(call, "parameters")
        for item in parameters.elts if parameters is not None else []:
            for constant in ast.walk(item):
                if (
                    isinstance(constant, ast.Constant)
                    and isinstance(constant.value, str)
                    and constant.value.endswith(".yaml")
                ):
                    config = REPO / "config" / constant.value
                    assert config.exists(), f"{path.name}: {config} missing"
                    keys = yaml.safe_load(config.read_text())[f"/**/{node_name}"]["ros__parameters"]
                    assert set(keys) <= declared, f"{config.name}: undeclared {set(keys) - declared}"
            if isinstance(item, ast.Dict):
                keys = {k.value for k in item.keys if isinstance(k, ast.Constant)}
                assert keys <= declared, f"{path.name}: {node_name} does not declare {keys - declared}"


def test_the_vehicle_launch_file_starts_the_stack_that_demo_and_closed_loop_runs_start() -> None:
    """The process list lives in ros/stack.py for our own tools; ros2 launch cannot import it before the
    package is found, so the launch file writes it out again, and this holds the two together: the same
    executables in the same order, each with the same parameter file."""
    from kvision_driving.ros.stack import stack_processes

    launched = []
    for call in launch_nodes(REPO / "launch" / "perception.launch.py"):
        if keyword(call, "executable").value == "rviz2":
            continue
        files = [c.value for c in ast.walk(keyword(call, "parameters")) if isinstance(c, ast.Constant)]
        launched.append((keyword(call, "executable").value, [f for f in files if str(f).endswith(".yaml")]))
    started = [
        (command[0], [Path(command[i + 1]).name for i, arg in enumerate(command) if arg == "--params-file"])
        for _, command in stack_processes("full")
    ]
    assert launched == started


def test_a_freshness_budget_reaches_the_perception_nodes_only() -> None:
    """``stale_after_s`` (bench pipeline --stale-after) goes to segmentation, fusion and action, each of which
    declares it; planning keeps its own watchdog; 0 passes nothing (the configured default)."""
    from kvision_driving.ros.stack import stack_processes

    scripts = console_scripts()
    for name, command in stack_processes("full", lockstep=False, stale_after_s=0.25):
        given = "stale_after_s:=0.25" in command
        assert given == (name != "planning"), (name, command)
        assert not given or "stale_after_s" in declared_parameters(scripts[command[0]])
    assert not any("stale_after_s" in " ".join(command) for _, command in stack_processes("full", lockstep=False))


def test_every_node_has_a_config_file_whose_keys_it_declares() -> None:
    scripts = console_scripts()
    configs = {p.stem: p for p in (REPO / "config").glob("*.yaml")}
    for executable, module in scripts.items():
        if not executable.endswith("_node") or "baseline" in executable:
            continue
        stem = executable.removesuffix("_node")
        assert stem in configs, f"config/{stem}.yaml missing for {executable}"
        keys = yaml.safe_load(configs[stem].read_text())[f"/**/{executable}"]["ros__parameters"]
        assert set(keys) <= declared_parameters(module), executable


def test_every_parameter_file_value_is_the_code_default() -> None:
    """One source of defaults: a node started bare (tests, a user's own launch file) behaves as the shipped
    YAML configures it. ``max_rate_hz`` was 10 in the files and 0 in the code for three nodes."""
    from kvision_driving.ros.node import COMMON_PARAMS

    for executable, module in console_scripts().items():
        if not executable.endswith("_node") or "baseline" in executable:
            continue
        config = REPO / "config" / f"{executable.removesuffix('_node')}.yaml"
        values = yaml.safe_load(config.read_text())[f"/**/{executable}"]["ros__parameters"]
        defaults = {spec.name: spec.default for spec in (*importlib.import_module(module).PARAMS, *COMMON_PARAMS)}
        differing = {name: (value, defaults[name]) for name, value in values.items() if value != defaults[name]}
        assert not differing, f"{config.name}: (file, code) {differing}"


READ_PARAMETERS = """
import json, sys
import rclpy
from rclpy.node import Node
rclpy.init(args=sys.argv[2:])
node = Node(sys.argv[1], automatically_declare_parameters_from_overrides=True)
values = {name: node.get_parameter(name).value for name in node._parameters}
print(json.dumps({"node": node.get_fully_qualified_name(), "values": values}))
node.destroy_node()
rclpy.shutdown()
"""


@pytest.mark.parametrize("config", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_parameter_file_applies_to_its_node_in_any_namespace(config: Path, tmp_path: Path) -> None:
    """``namespace:=kv`` makes the nodes /kv/<name>: a file keyed by the bare name matched only /<name>, and
    every value fell back to the code's default without a word. A real rclpy node in a subprocess, started
    as the launch files start it, gets every value of its file, in the root namespace and in a nested one."""
    import json
    import subprocess
    import sys

    from kvision_driving.ros.graph import DomainLease, graph_environment

    (key,) = yaml.safe_load(config.read_text())
    assert key.startswith("/**/"), f"{config.name}: key {key} applies only outside a namespace"
    expected = yaml.safe_load(config.read_text())[key]["ros__parameters"]
    node_name = key.removeprefix("/**/")
    lease = DomainLease()
    env = graph_environment(lease.domain_id, tmp_path)
    try:
        for namespace in ("/", "/kv", "/fleet/car7"):
            result = subprocess.run(
                [sys.executable, "-c", READ_PARAMETERS, node_name, "--ros-args", "-r", f"__ns:={namespace}",
                 "--params-file", str(config)],
                capture_output=True, text=True, timeout=60, env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-1000:]
            loaded = json.loads(result.stdout.strip().splitlines()[-1])
            assert loaded["node"] == f"{namespace.rstrip('/')}/{node_name}"
            arrived = {name: loaded["values"].get(name) for name in expected}  # (rclpy adds its own)
            assert arrived == expected, namespace
    finally:
        lease.release()
