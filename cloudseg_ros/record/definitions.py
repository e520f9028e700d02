"""ROS 2 message definitions as MCAP schemas (``ros2msg``), the way rosbag2 writes them.

An MCAP file is self-describing: each channel's schema carries the full text definition of
its message type, followed by every type it uses, each after a line of 80 ``=`` and a
``MSG: package/Type`` line. Foxglove, ``ros2 bag`` (rosbag2_storage_mcap) and mcap_ros2
decode the CDR payloads from that text alone.

Where the text comes from: the installed ``.msg`` file when one is found (under
``AMENT_PREFIX_PATH`` or this interpreter's prefix, as ``share/<pkg>/msg/<Type>.msg``:
comments and constants included, byte for byte what rosbag2 records), else it is generated
from the Python message class (its field names and types, which is all a decoder needs).
The dependency walk always uses the Python classes, so it needs no .msg parser.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

SEPARATOR = "=" * 80
_IDL_TO_MSG = {"boolean": "bool", "octet": "byte", "float": "float32", "double": "float64",
               "long double": "float64"}  # fmt: skip
_SEQUENCE = re.compile(r"^sequence<(?P<type>[^,>]+)(?:,\s*(?P<bound>\d+))?>$")


def message_class(type_name: str) -> type:
    """``sensor_msgs/msg/Image`` or ``sensor_msgs/Image`` -> the Python message class."""
    pkg, _, name = normalise(type_name).partition("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def normalise(type_name: str) -> str:
    """``pkg/msg/Type`` -> ``pkg/Type`` (the spelling used inside definitions)."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return f"{parts[0]}/{parts[2]}"
    if len(parts) != 2:
        raise ValueError(f"not a message type name: {type_name!r}")
    return type_name


def full_name(type_name: str) -> str:
    """``pkg/Type`` -> ``pkg/msg/Type`` (the schema name rosbag2 and Foxglove use)."""
    pkg, _, name = normalise(type_name).partition("/")
    return f"{pkg}/msg/{name}"


def _msg_field_type(idl: str) -> tuple[str, str | None]:
    """A Python class field type -> (.msg spelling, the complex type it uses or None)."""
    suffix = ""
    m = _SEQUENCE.match(idl)
    if m:
        idl, suffix = m["type"].strip(), f"[<={m['bound']}]" if m["bound"] else "[]"
    elif idl.endswith("]"):
        idl, _, count = idl[:-1].partition("[")
        suffix = f"[{count}]"
    base = _IDL_TO_MSG.get(idl, idl)
    return base + suffix, (base if "/" in base else None)


def _generated(cls: type) -> str:
    lines = []
    for name, idl in cls._fields_and_field_types.items():
        lines.append(f"{_msg_field_type(idl)[0]} {name}")
    return "\n".join(lines) + "\n"


def _search_roots() -> list[Path]:
    roots = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [*roots, Path(sys.prefix)]


def _text(type_name: str) -> str:
    pkg, _, name = normalise(type_name).partition("/")
    for root in _search_roots():
        f = root / "share" / pkg / "msg" / f"{name}.msg"
        if f.is_file():
            return f.read_text()
    return _generated(message_class(type_name))


def _dependencies(type_name: str) -> list[str]:
    """Every complex type ``type_name`` uses, depth first, each once."""
    seen: list[str] = []

    def walk(t: str) -> None:
        for idl in message_class(t)._fields_and_field_types.values():
            dep = _msg_field_type(idl)[1]
            if dep and dep not in seen:
                seen.append(dep)
                walk(dep)

    walk(type_name)
    return seen


@lru_cache(maxsize=64)
def definition(type_name: str) -> str:
    """The ros2msg schema text of ``type_name`` with all its dependencies."""
    parts = [_text(type_name).rstrip("\n")]
    for dep in _dependencies(type_name):
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{_text(dep).rstrip(chr(10))}")
    return "\n".join(parts) + "\n"
