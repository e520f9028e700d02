"""Everything one fleet needs for mutual TLS, written in one folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloudseg_ros.bridge import keys
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.security.certs import CertificateAuthority, file_stem
from cloudseg_ros.security.zenoh_tls import cloud_config, robot_config, write_config


@dataclass
class Fleet:
    ca: Path
    cloud_config: Path
    robot_configs: dict[str, Path]


RESERVED = ("ca", "cloud")  # file stems of the CA's and the cloud's files in the fleet folder


def check_robot_ids(robots: list[str]) -> list[str]:
    """The robot ids, validated: each gets ``<id with / as _>.{pem,key,json5}`` in the fleet
    folder, so two ids that map to one file name, or one that is the CA's or the cloud's,
    would silently overwrite the other's identity."""
    if not robots:
        raise ConfigError("at least one robot id is needed")
    ids = [keys.validate_robot_id(r) for r in robots]
    stems: dict[str, str] = {}
    for robot in ids:
        if not robot:
            raise ConfigError("a robot id must not be empty")
        stem = file_stem(robot)
        if stem in RESERVED:
            raise ConfigError(f"robot id {robot!r} is reserved (its files would be the {stem}'s)")
        if stem in stems:
            same = "is given twice" if stems[stem] == robot else f"and {stems[stem]!r} share files {stem}.*"
            raise ConfigError(f"robot id {robot!r} {same}: robot ids must be unique")
        stems[stem] = robot
    return ids


def make_fleet(out: Path, robots: list[str], cloud_hosts: list[str], replace: bool = False) -> Fleet:
    """A CA, the cloud's server identity, one client identity per robot, and zenoh configs.

    A folder that already holds a fleet (``ca.pem``) is refused unless ``replace``: a new CA
    is made each time (its private key is not kept, so no robot can be added to an existing
    fleet), and every robot and the cloud deployed with the old files would be locked out."""
    ids = check_robot_ids(robots)
    out = Path(out).resolve()
    if (out / "ca.pem").exists() and not replace:
        raise ConfigError(
            f"{out} already holds a fleet (ca.pem); --force makes a NEW CA there, and the cloud and "
            "every robot then need their new files (robots cannot be added to an existing fleet: "
            "the CA's private key is not kept). To keep the fleet, choose another --out"
        )
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
            out / f"{file_stem(robot)}.json5",
            robot_config(ca.path, ident.cert, ident.key),
            f"zenoh config of robot {robot}'s bridge: mutual TLS with its own certificate",
        )
    return Fleet(ca.path, cloud_file, robot_files)
