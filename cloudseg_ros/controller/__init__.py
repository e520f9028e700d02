"""Bitrate controller logic (no ROS): profile, link estimator, AWStream-style policy."""
