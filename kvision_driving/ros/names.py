"""Topic names in a namespace: the contract's topics follow a node's namespace, tf, clock and diagnostics do not.

ROS convention: a node names its topics relatively, so ``namespace:=a`` puts a whole stack under /a and two
stacks share a domain without crosstalk; /tf, /tf_static, /clock and /diagnostics are global (one clock, one
transform tree, one diagnostics aggregator). In the root namespace a relative name is the absolute one.
"""

from __future__ import annotations

GLOBAL_TOPICS = frozenset({"/tf", "/tf_static", "/clock", "/diagnostics", "/rosout", "/parameter_events"})


def in_namespace(topic: str) -> str:
    """The name a node publishes or subscribes ``topic`` under: relative, unless the topic is global."""
    return topic if topic in GLOBAL_TOPICS else topic.lstrip("/")
