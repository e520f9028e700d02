"""`cloudseg record`: write a running robot graph's camera, uplink and mask topics to MCAP.

The file is ROS 2 CDR with ros2msg schemas (what rosbag2's MCAP storage writes): open it in
Foxglove, inspect it with ``ros2 bag info FILE.mcap``, play it with ``ros2 bag play``, or
replay its camera through the camera node (``source: mcap``, ``uri: FILE.mcap``).

Ctrl-C (SIGINT) and SIGTERM (systemd, ``docker stop``, a launch file shutting down) both end
the recording cleanly: the file is finished and indexed, and what was lost is reported.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from cloudseg_ros.commands.argtypes import env_ros_domain, non_negative, ros_domain
from cloudseg_ros.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record a robot's camera, uplink and mask topics to an MCAP file",
        description="Subscribes, as a node of its own in the robot's ROS domain, to the camera, link and "
        "mask topics of one or more robot namespaces and writes them, as received (CDR), to an MCAP file "
        "readable by Foxglove, `ros2 bag` (MCAP storage) and `cloudseg`'s camera replay.",
    )
    p.add_argument("out", help="output file (.mcap)")
    p.add_argument("--robot", action="append", help="robot namespace (repeatable; default car1)")
    p.add_argument(
        "--domain",
        type=ros_domain,
        default=None,
        help="ROS domain of the robot graph (default: $ROS_DOMAIN_ID, else 0)",
    )
    p.add_argument("--duration", type=non_negative, default=0.0, help="seconds to record; 0 = until Ctrl-C")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.add_argument(
        "--streams",
        nargs="+",
        metavar="NAME",
        help="topics under the namespace to record (default: camera/image_raw camera/camera_info "
        "camera/labels cloudseg/uplink cloudseg/mask cloudseg/feedback cloudseg/skipped "
        "segmentation/mask segmentation/info; also segmentation/color, segmentation/overlay, "
        "camera/image_lr/compressed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from cloudseg_ros.record.bag import RecordingExists
    from cloudseg_ros.record.topics import DEFAULT_STREAMS, TopicRecorder, streams_named

    if not args.out.endswith(".mcap"):
        raise ConfigError(f"output {args.out!r} should end in .mcap")
    from cloudseg_ros.bridge.keys import validate_robot_id

    domain = args.domain if args.domain is not None else env_ros_domain()
    robots = [validate_robot_id(r) for r in args.robot or ["car1"]]
    try:
        streams = streams_named(args.streams) if args.streams else list(DEFAULT_STREAMS)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        recorder = TopicRecorder(domain, robots, args.out, streams, overwrite=args.force)
    except RecordingExists as exc:
        raise ConfigError(f"{exc}; or pass --force") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:  # SIGTERM as Ctrl-C: finish the file
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"recording {len(recorder.topics)} topics in ROS domain {domain} to {args.out}"
          f"{f' for {args.duration:g} s' if args.duration else ' (Ctrl-C to stop)'}", flush=True)  # fmt: skip
    t0 = time.monotonic()
    try:
        while not stop.wait(0.2) and (not args.duration or time.monotonic() - t0 < args.duration):
            pass
    finally:
        for sig, handler in previous.items():  # a second Ctrl-C while closing interrupts as usual
            signal.signal(sig, handler)
        recorder.close()
    print(f"{recorder.messages} messages in {time.monotonic() - t0:.1f} s -> {args.out}")
    for line in recorder.report():
        print(f"  {line}")
    if recorder.losses:
        print(f"  {recorder.losses} messages lost in all (see above)")
    if recorder.error is not None:
        raise ConfigError(f"writing {args.out} failed: {recorder.error} (the file keeps what came before)")
    return 0
