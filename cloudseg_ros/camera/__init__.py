"""Camera sources (no ROS imports)."""
