"""`cloudseg certs`: a test CA, certificates and zenoh configs for a cloud and its robots."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "certs",
        help="make a test CA, cloud and robot certificates, and zenoh TLS/ACL configs",
        description="Writes DIR/ca.pem, DIR/cloud.{pem,key}, DIR/<robot>.{pem,key} and the zenoh configs "
        "DIR/cloud.json5 (router: mutual TLS, per-robot access control) and DIR/<robot>.json5 (client). "
        "Point the bridges' zenoh_config_file parameter at them and use tls/ endpoints.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--robots", nargs="+", default=["car1"], help="robot ids (certificate common names)")
    p.add_argument("--cloud-host", action="append", default=None,
                   help="DNS name or IP robots use to reach the cloud (repeatable; default localhost, 127.0.0.1)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cloudseg_ros.security.fleet import make_fleet

    fleet = make_fleet(args.out, args.robots, args.cloud_host or ["localhost", "127.0.0.1"])
    print(
        f"wrote CA {fleet.ca}, cloud config {fleet.cloud_config} and {len(fleet.robot_configs)} robot configs"
    )
    return 0
