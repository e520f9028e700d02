"""The cloud side: serving many robots (no ROS imports)."""
