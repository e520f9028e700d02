"""Sub-commands of the `cloudseg` CLI (see cloudseg_ros.cli)."""
