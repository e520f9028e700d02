"""Recording and replay: MCAP writer/reader for ROS 2 CDR messages (no ROS needed to read)."""

from cloudseg_ros.record.bag import BagMessage, BagReader, McapRecorder
from cloudseg_ros.record.definitions import definition

__all__ = ["BagMessage", "BagReader", "McapRecorder", "definition"]
