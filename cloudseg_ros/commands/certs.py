"""`cloudseg certs`: a test CA, certificates and zenoh configs for a cloud and its robots."""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import out_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "certs",
        help="make a test CA, cloud and robot certificates, and zenoh TLS/ACL configs",
        description="Writes DIR/ca.pem, DIR/cloud.{pem,key}, DIR/<robot>.{pem,key} and the zenoh configs "
        "DIR/cloud.json5 (router: mutual TLS, per-robot access control) and DIR/<robot>.json5 (client). "
        "Point the bridges' zenoh_config_file parameter at them and use tls/ endpoints.",
    )
    p.add_argument("--out", type=out_dir, required=True, help="output folder")
    p.add_argument("--robots", nargs="+", default=["car1"], help="robot ids (certificate common names)")
    p.add_argument("--cloud-host", action="append", default=None,
                   help="DNS name or IP robots use to reach the cloud (repeatable; default localhost, 127.0.0.1)")  # fmt: skip
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a fleet already in --out: a NEW CA, so the cloud and every robot need their new "
        "files (robots cannot be added to an existing fleet: the CA's private key is not kept)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cloudseg_ros.security.fleet import make_fleet

    hosts = args.cloud_host or ["localhost", "127.0.0.1"]
    fleet = make_fleet(args.out, args.robots, hosts, replace=args.force)
    print(
        f"wrote CA {fleet.ca}, cloud config {fleet.cloud_config} and {len(fleet.robot_configs)} robot configs"
    )
    return 0
