"""The base every kvision node builds on, and the ``main()`` runner.

What a node gets from :class:`KvisionNode`:
  * its parameters declared, described and validated (plus the common ones below);
  * a ``/diagnostics`` publisher fed by :class:`NodeHealth`;
  * :meth:`reject`: skip a bad input, count it, log it throttled;
  * :meth:`process_latest`: a worker thread that processes only the newest message of a stream,
    so a slow node drops stale frames (counted) instead of queueing work without bound.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.time import Time

from kvision_driving.core.collector import freeze_startup_objects
from kvision_driving.core.stamps import RateWindows, StampGate, StampOrder
from kvision_driving.ros.convert import ConversionError, stamp_to_ns
from kvision_driving.ros.diagnostics import BUFFERED_PREFIX, ERROR, NodeHealth, health_to_status, make_array
from kvision_driving.ros.inputs import LatestSlot
from kvision_driving.ros.params import ParameterError, ParamSpec, declare_parameters
from kvision_driving.ros.preflight import CONFIGURATION_ERROR
from kvision_driving.ros.process import prepare_ros_process
from kvision_driving.ros.qos import QOS_CHOICES, qos_by_name

M = TypeVar("M")

COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("diagnostics_period_s", 1.0, "Seconds between /diagnostics messages", 0.05, 60.0),
    ParamSpec("log_throttle_s", 2.0, "Minimum seconds between two repeated error logs", 0.0, 3600.0),
    ParamSpec("input_qos", "sensor_data", "QoS of sensor inputs", choices=QOS_CHOICES),
    ParamSpec("output_qos", "reliable", "QoS of published results", choices=QOS_CHOICES),
)
# For nodes that process the newest input on a worker (process_latest's stale_after_s). Off by default: a bag
# replayed without use_sim_time, and tests, stamp their inputs far in the past.
STALE_AFTER = ParamSpec(
    "stale_after_s",
    0.0,
    "Drop an input whose header stamp is older than this when its turn comes (counted as stale); 0: never",
    0.0,
    3600.0,
)


class Skip(Exception):  # noqa: N818 - not an error: a handler's way to say "deliberately not processed"
    """Raised by a :meth:`KvisionNode.process_latest` handler for a well-formed message it leaves out on
    purpose (a duplicate stamp, say), already counted where it was decided: not processed, not bad."""


class KvisionNode(Node):
    """A ROS 2 node with validated parameters, health reporting and bounded input handling."""

    def __init__(self, node_name: str, params: Sequence[ParamSpec], **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)
        self._workers: list[tuple[LatestSlot, threading.Thread]] = []  # before anything that can raise
        self.shutting_down = False
        self.params = declare_parameters(self, (*COMMON_PARAMS, *params))
        self.health = NodeHealth()
        self._stamp_gates: dict[str, StampGate] = {}
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
        # On the steady clock: with use_sim_time, simulated time may stand still (a lockstep simulator
        # waiting, no /clock yet) and health must still be reported. `clock=` exists since Humble.
        self._diagnostics_timer = self.create_timer(
            float(self.params["diagnostics_period_s"]),
            self.publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )

    # --- QoS --------------------------------------------------------------------------------------

    @property
    def input_qos(self):
        return qos_by_name(str(self.params["input_qos"]))

    @property
    def output_qos(self):
        return qos_by_name(str(self.params["output_qos"]))

    # --- health -----------------------------------------------------------------------------------

    def now_s(self) -> float:
        return time.monotonic()

    def latency_ms(self, stamp: object) -> float:
        """Age of a header stamp on this node's clock (sim time aware), in milliseconds."""
        now_ns = self.get_clock().now().nanoseconds
        return (now_ns - stamp_to_ns(stamp)) / 1e6

    def reject(self, source: str, error: Exception | str) -> None:
        """Skip a bad input: count it under ``source``, log it (throttled), keep running."""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.health.on_bad_input(f"{source}: {reason}"[:120])
        self.get_logger().error(
            f"skipping {source}: {reason}", throttle_duration_sec=float(self.params["log_throttle_s"])
        )

    @staticmethod
    def listened(publisher: Publisher) -> bool:
        """Whether anyone subscribes to ``publisher``: what only a viewer reads (markers, overlays) is built
        for somebody, not on every cycle of a vehicle that runs without RViz."""
        return publisher.get_subscription_count() > 0

    def check_order(self, stream: str, stamp_ns: int) -> StampOrder:
        """Where ``stamp_ns`` falls in ``stream``: duplicates and late messages are counted (callers skip
        them, ``order.skip``); a jump back is logged (callers reset what they keep over time)."""
        order = self._stamp_gates.setdefault(stream, StampGate()).check(stamp_ns)
        if order.skip:
            self.health.on_out_of_order(f"{stream}: {order.value}")
        elif order is StampOrder.JUMP_BACK:
            self.get_logger().warning(f"{stream}: time went backwards (bag loop?): starting over")
        return order

    def buffered(self) -> dict[str, int]:
        """What the node holds over time, by buffer (reported as ``buffered_<name>``, for soak tests): inputs
        waiting for a worker here; nodes add their own buffers. Every one is bounded by construction."""
        return {"pending_inputs": sum(slot.pending for slot, _ in self._workers)}

    def publish_diagnostics(self) -> None:
        for name, size in self.buffered().items():
            self.health.set_value(f"{BUFFERED_PREFIX}{name}", size)
        status = health_to_status(self.get_name(), self.get_fully_qualified_name(), self.health, self.now_s())
        self._diagnostics_pub.publish(make_array([status], self.get_clock().now().to_msg()))

    # --- keep-latest processing -------------------------------------------------------------------

    def process_latest(
        self, name: str, handler: Callable[[M], None], max_rate_hz: float = 0.0, stale_after_s: float = 0.0
    ) -> Callable[[M], None]:
        """A subscription callback that hands messages to ``handler`` on a worker thread, newest only.

        ``max_rate_hz`` > 0 keeps the first message of each 1/max_rate_hz window of header stamps and
        leaves the rest out on arrival (``rate_limited`` in /diagnostics, not drops): one left out can never
        displace a wanted one waiting for the worker.

        ``stale_after_s`` > 0 drops a message whose header stamp is older than that when the worker takes it
        (``stale`` in /diagnostics, by stream): an answer computed from it would come too late to use, and
        the next message is the fresher one to spend the time on. Every message's age is reported.

        ``handler`` may raise Skip (left out on purpose), ConversionError (counted as a bad input) or anything
        else (logged with its traceback, counted, node state ERROR until the next success): the node lives on.
        """
        slot: LatestSlot[M] = LatestSlot()
        windows = RateWindows(max_rate_hz)
        max_age_ms = stale_after_s * 1e3

        def worker() -> None:
            while rclpy.ok() and not slot.closed:
                message = slot.take(timeout_s=0.2)
                if message is None:
                    continue
                stamp = getattr(getattr(message, "header", None), "stamp", None)
                if stamp is not None and not self._fresh(name, stamp, max_age_ms):
                    continue
                started = time.perf_counter()
                try:
                    handler(message)
                except Skip:
                    continue
                except ConversionError as error:
                    self.reject(name, error)
                    continue
                except Exception as error:  # noqa: BLE001 - a node survives its own bugs and reports them
                    if self.shutting_down or not self.context.ok():
                        return  # publishing fails while shutting down: nothing to report
                    self.health.set_state(ERROR, f"{name}: {type(error).__name__}: {error}"[:200])
                    self.reject(name, f"{type(error).__name__}: {error}")
                    self.get_logger().debug(traceback.format_exc())
                    continue
                elapsed_ms = (time.perf_counter() - started) * 1e3
                self.health.on_processed(
                    elapsed_ms, self.now_s(), self.latency_ms(stamp) if stamp is not None else None
                )

        def on_message(message: M) -> None:
            self.health.on_input(self.now_s())
            if windows.period_ns and not windows.take(stamp_to_ns(message.header.stamp)):  # type: ignore[attr-defined]
                self.health.set_value("rate_limited", windows.limited)
                return
            if slot.put(message):
                self.health.on_drop()

        thread = threading.Thread(target=worker, name=f"{self.get_name()}-{name}", daemon=True)
        self._workers.append((slot, thread))
        thread.start()
        return on_message

    def _fresh(self, name: str, stamp: object, max_age_ms: float) -> bool:
        """Record the age of an input stamped ``stamp``; False (counted, logged) when a budget is set and it is
        older."""
        age_ms = self.latency_ms(stamp)
        self.health.on_input_age(age_ms)
        if max_age_ms <= 0 or age_ms <= max_age_ms:
            return True
        self.health.on_stale(name)
        self.get_logger().warning(
            f"dropping stale {name}: {age_ms / 1e3:.2f} s old, stale_after_s {max_age_ms / 1e3:g} "
            "(a bag replayed without use_sim_time?)",
            throttle_duration_sec=float(self.params["log_throttle_s"]),
        )
        return False

    def destroy_node(self) -> None:
        self.shutting_down = True  # loops of the node's own threads end quietly from here on
        for slot, _ in self._workers:
            slot.close()
        for _, thread in self._workers:
            thread.join(timeout=2.0)
        super().destroy_node()


def stamp_of(message: object) -> Time:
    return Time.from_msg(message.header.stamp)  # type: ignore[attr-defined]


def make_executor() -> Executor:
    """The executor a node spins in: rclpy's events executor where it exists (Kilted; Jazzy from rclpy 7.1.4) unless
    ``KVISION_EXECUTOR=single``, else the single-threaded one. The single-threaded executor rebuilds its wait
    set in Python for every callback; the events executor dispatches from C++."""
    choice = os.environ.get("KVISION_EXECUTOR", "events")
    if choice not in ("events", "single"):
        raise ParameterError(f"KVISION_EXECUTOR={choice!r}: expected events or single")
    if choice == "events":
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:  # Humble
            pass
        else:
            return EventsExecutor()
    return SingleThreadedExecutor()


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Entry point body for every node: DDS defaults, init, build (exit 2 on bad parameters), spin."""
    prepare_ros_process()
    rclpy.init(args=args)
    node: Node | None = None
    try:
        executor = make_executor()  # first: a wrong choice is refused before any model is loaded
        node = factory()
        freeze_startup_objects()  # imports, model and node live as long as the process: no collector passes
        executor.add_node(node)
        node.get_logger().info(f"spinning in {type(executor).__name__}")
        # Tools (benchmarks, players) set ``finished`` to exit; long-running nodes never do.
        while rclpy.ok() and not getattr(node, "finished", False):
            executor.spin_once(timeout_sec=0.1)
    except ParameterError as error:  # a restart will not fix it: the launch files stop instead of respawning
        print(f"error: {error}", file=sys.stderr)
        return CONFIGURATION_ERROR
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return int(getattr(node, "exit_code", 0))
