"""zenoh settings for a fleet over untrusted networks: mutual TLS and per-robot access control.

Transport: TLS with client certificates (mTLS); a robot without a certificate signed by the
fleet's CA cannot even connect. Access control on the cloud's router, default deny, with one
policy per robot matched on its certificate's common name (= its robot id):

- robot ``carN`` may publish only ``carN/cloudseg/uplink``;
- it may subscribe only to ``carN/cloudseg/mask`` and ``carN/cloudseg/feedback``, and only those
  are forwarded to it; it may not publish on them (only the cloud's masks reach it);
- the cloud's interest in ``**/cloudseg/uplink`` is announced to every robot (without it a robot
  would not know where to send).

So a robot with a valid certificate that publishes as another robot, or subscribes to another
robot's masks, is refused by the transport itself, before any cloudseg code sees a byte.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudseg_ros.bridge import keys


def _robot_rules(robot: str) -> list[dict[str, Any]]:
    downlink = [keys.robot_key(robot, stream) for stream in keys.CLOUD_TO_ROBOT]
    return [
        {
            "id": f"{robot}:uplink",
            "permission": "allow",
            "flows": ["ingress"],
            "messages": ["put"],
            "key_exprs": [keys.robot_key(robot, keys.UPLINK)],
        },
        {  # the robot subscribes to its masks and feedback ...
            "id": f"{robot}:downlink-interest",
            "permission": "allow",
            "flows": ["ingress"],
            "messages": ["declare_subscriber"],
            "key_exprs": downlink,
        },
        {  # ... which only the router delivers: a robot cannot publish on them (forged masks)
            "id": f"{robot}:downlink",
            "permission": "allow",
            "flows": ["egress"],
            "messages": ["put"],
            "key_exprs": downlink,
        },
    ]


def access_control(robots: Sequence[str]) -> dict[str, Any]:
    """The cloud router's ``access_control`` section for ``robots`` (ids = certificate CNs)."""
    interest = "cloud:uplink-interest"
    rules: list[dict[str, Any]] = [
        {
            "id": interest,
            "permission": "allow",
            "flows": ["egress"],
            "messages": ["declare_subscriber"],
            "key_exprs": [keys.robots_selector(keys.UPLINK)],
        }
    ]
    subjects, policies = [], []
    for robot in robots:
        robot = keys.validate_robot_id(robot)
        rules += _robot_rules(robot)
        subjects.append({"id": robot, "cert_common_names": [robot]})
        policies.append({"rules": [interest, *(r["id"] for r in _robot_rules(robot))], "subjects": [robot]})
    return {
        "enabled": True,
        "default_permission": "deny",
        "rules": rules,
        "subjects": subjects,
        "policies": policies,
    }


def cloud_config(ca: Path, cert: Path, key: Path, robots: Sequence[str]) -> dict[str, Any]:
    """zenoh config of the cloud: router accepting only CA-signed clients, with ACL."""
    return {
        "mode": "router",
        "transport": {
            "link": {
                "tls": {
                    "root_ca_certificate": str(ca),
                    "listen_certificate": str(cert),
                    "listen_private_key": str(key),
                    "enable_mtls": True,
                }
            }
        },
        "access_control": access_control(robots),
    }


def robot_config(ca: Path, cert: Path, key: Path) -> dict[str, Any]:
    """zenoh config of one robot: client presenting its certificate, verifying the cloud's."""
    return {
        "mode": "client",
        "transport": {
            "link": {
                "tls": {
                    "root_ca_certificate": str(ca),
                    "connect_certificate": str(cert),
                    "connect_private_key": str(key),
                    "enable_mtls": True,
                    "verify_name_on_connect": True,
                }
            }
        },
    }


def write_config(path: Path, config: dict[str, Any], note: str) -> Path:
    """Write a zenoh JSON5 file (plain JSON is valid JSON5) with a comment saying what it is."""
    path.write_text(f"// {note}\n" + json.dumps(config, indent=2) + "\n")
    return path
