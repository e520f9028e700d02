"""Everything one fleet needs for mutual TLS, written in one folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloudseg_ros.bridge import keys
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.security.certs import CertificateAuthority
from cloudseg_ros.security.zenoh_tls import cloud_config, robot_config, write_config


@dataclass
class Fleet:
    ca: Path
    cloud_config: Path
    robot_configs: dict[str, Path]


def make_fleet(out: Path, robots: list[str], cloud_hosts: list[str]) -> Fleet:
    """A CA, the cloud's server identity, one client identity per robot, and zenoh configs."""
    if not robots:
        raise ConfigError("at least one robot id is needed")
    ids = [keys.validate_robot_id(r) for r in robots]
    if "cloud" in ids or len(set(ids)) != len(ids):
        raise ConfigError("robot ids must be unique and must not be 'cloud'")
    out = Path(out).resolve()
    ca = CertificateAuthority(out)
    cloud = ca.issue("cloud", cloud_hosts, server=True)
    cloud_file = write_config(
        out / "cloud.json5",
        cloud_config(ca.path, cloud.cert, cloud.key, ids),
        f"zenoh config of the cloud bridge: mutual TLS, access control for {', '.join(ids)}",
    )
    robot_files = {}
    for robot in ids:
        ident = ca.issue(robot, [], server=False)
        robot_files[robot] = write_config(
            out / f"{robot.replace('/', '_')}.json5",
            robot_config(ca.path, ident.cert, ident.key),
            f"zenoh config of robot {robot}'s bridge: mutual TLS with its own certificate",
        )
    return Fleet(ca.path, cloud_file, robot_files)
