"""Frame selection on the robot: what is worth sending (no ROS imports)."""

from cloudseg_ros.selector.frame_selector import Decision, FrameSelector, Selection

__all__ = ["Decision", "FrameSelector", "Selection"]
