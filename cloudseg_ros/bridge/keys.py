"""Mapping between ROS topic names and zenoh key expressions.

Same rule as zenoh-bridge-ros2dds: the key is the fully qualified topic name
without its leading ``/`` (``/car1/cloudseg/uplink`` <-> ``car1/cloudseg/uplink``),
and the payload is the CDR-serialised message. Either end of our bridge can
therefore be swapped for zenoh-bridge-ros2dds. The robot's namespace is the
first part of the key, so one cloud tells robots apart by key alone.
"""

from __future__ import annotations

import re

from cloudseg_ros.errors import ConfigError

UPLINK = "cloudseg/uplink"
MASK = "cloudseg/mask"
FEEDBACK = "cloudseg/feedback"
SKIPPED = "cloudseg/skipped"  # robot-local: headers of camera frames the edge did not send
# Streams that cross the link, per robot, and the direction each one travels.
ROBOT_TO_CLOUD = (UPLINK,)
CLOUD_TO_ROBOT = (MASK, FEEDBACK)

_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# CDR encapsulation identifiers a ROS 2 payload starts with (then two option bytes):
# CDR and PL_CDR, big or little endian, XCDR1 or XCDR2.
_CDR_IDS = {bytes([0, i]) for i in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)}


def is_cdr(payload: bytes) -> bool:
    """Whether ``payload`` can be a serialised ROS message (zenoh-bridge-ros2dds layout: the CDR
    encapsulation header included). Anything else would be discarded by DDS without a trace."""
    return len(payload) >= 4 and bytes(payload[:2]) in _CDR_IDS


def topic_to_key(topic: str) -> str:
    """``/car1/cloudseg/uplink`` -> ``car1/cloudseg/uplink``. The topic must be fully qualified."""
    if not topic.startswith("/") or topic == "/":
        raise ConfigError(f"topic {topic!r} must be fully qualified (start with '/')")
    parts = topic[1:].split("/")
    for part in parts:
        if not _NAME_TOKEN.match(part):
            raise ConfigError(f"topic {topic!r}: {part!r} is not a valid ROS name token")
    return "/".join(parts)


def key_to_topic(key: str) -> str:
    """``car1/cloudseg/uplink`` -> ``/car1/cloudseg/uplink``; rejects wildcards and bad tokens."""
    topic = "/" + key
    topic_to_key(topic)  # validates every token (wildcards * and $ are not valid ROS tokens)
    return topic


def robot_key(namespace: str, stream: str) -> str:
    """Key of one robot's stream: ``robot_key("/car1", UPLINK)`` -> ``car1/cloudseg/uplink``."""
    ns = namespace.strip("/")
    return topic_to_key(f"/{ns}/{stream}" if ns else f"/{stream}")


# Longest robot id taken from a key: ROS refuses topic names past ~240 characters, and a peer
# sending to a longer id made the bridge's create_publisher raise (the process stopped).
MAX_ROBOT_ID = 100


def robot_of_key(key: str, stream: str) -> str | None:
    """The robot namespace of a key (``fleet/car1`` of ``fleet/car1/cloudseg/uplink``), or None
    when the key is not that stream of some robot or its namespace is not a valid ROS name
    (at most ``MAX_ROBOT_ID`` characters)."""
    suffix = "/" + stream
    if not key.endswith(suffix) or len(key) == len(suffix) or len(key) - len(suffix) > MAX_ROBOT_ID:
        return None
    robot = key[: -len(suffix)]
    try:
        topic_to_key("/" + robot)
    except ConfigError:
        return None
    return robot


def robots_selector(stream: str, robots: str = "**") -> str:
    """Key expression matching ``stream`` of the robots matched by ``robots`` (a zenoh key
    expression over robot ids: ``**`` every robot at any depth, ``fleet_a/**`` one fleet,
    ``car1`` one robot). Several clouds can share a fleet by key-space partition."""
    return f"{robots.strip('/')}/{stream}"


def check_selectors(patterns: list[str]) -> str | None:
    """Reason why ``patterns`` are not valid zenoh key expressions over robot ids, or None."""
    import zenoh

    if not [p for p in patterns if p.strip("/")]:
        return "serve needs at least one key expression, e.g. ** for every robot"
    for p in patterns:
        try:
            zenoh.KeyExpr(p.strip("/"))
        except zenoh.ZError as exc:
            return f"serve: {p!r} is not a zenoh key expression ({str(exc).split(' at ')[0]}); e.g. car$*, fleet_a/**"
    return None


def serves(patterns: list[str], robot: str) -> bool:
    """Whether robot id ``robot`` falls in one of the key-expression ``patterns`` (valid ones)."""
    import zenoh

    return any(zenoh.KeyExpr(p.strip("/")).intersects(zenoh.KeyExpr(robot)) for p in patterns if p.strip("/"))


def validate_robot_id(robot_id: str) -> str:
    """A robot id is a ROS namespace without the leading slash (``car1``, ``fleet/car1``)."""
    try:
        return topic_to_key("/" + robot_id.strip("/")) if robot_id.strip("/") else ""
    except ConfigError as exc:
        raise ConfigError(f"robot_id {robot_id!r} is not a valid ROS namespace: {exc}") from exc
