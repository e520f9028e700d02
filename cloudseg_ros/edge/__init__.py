"""The robot side of the uplink: selection, downscaling, encoding (no ROS imports)."""
