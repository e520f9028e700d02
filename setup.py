"""The Python half of cloudseg_ros: the `cloudseg` command, one executable per node,
the shipped model weights, and the launch and config files under share/.

The messages in msg/ are the CMake half (rosidl); see README, "How the CMake and
Python halves fit". In a plain venv `make setup` runs CMake first, then installs
this; on a ROS install colcon runs CMakeLists.txt, which installs both.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "cloudseg_ros"
NODES = ["camera_node", "edge_node", "bridge_node", "cloud_node", "mask_node", "controller_node"]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Cloud semantic segmentation over a weak uplink for ROS 2 robots (CloudSeg).",
    license="Apache-2.0",
    python_requires=">=3.11",  # enum.StrEnum
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["weights/*.onnx", "weights/*.pt", "weights/*.json", "train/configs/*.yaml"]},
    data_files=[
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (
            f"share/{PACKAGE}/config",
            glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.json5") + glob("config/*.xml"),
        ),
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    ],
    entry_points={
        "console_scripts": [f"cloudseg = {PACKAGE}.cli:main"]
        + [f"{node} = {PACKAGE}.nodes.{node}:main" for node in NODES],
    },
)
