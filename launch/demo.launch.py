"""Robot and cloud on one machine, in different ROS domains, linked only by zenoh.

    ros2 launch cloudseg_ros demo.launch.py

The launch counterpart of `cloudseg demo` (which adds the measurements and the
report): the two graphs cannot see each other's DDS topics, so every mask in RViz
(config/cloudseg.rviz, in the robot domain) went through the zenoh bridge.
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    SetEnvironmentVariable,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PACKAGE = "cloudseg_ros"


def _include(name, domain, arguments):
    """``name`` in its own ROS domain with only ``arguments`` (not forwarding this file's
    arguments: ``params_file:=robot.yaml`` reached the cloud nodes too, as their parameters)."""
    path = PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", name])
    return GroupAction(
        [
            SetEnvironmentVariable("ROS_DOMAIN_ID", LaunchConfiguration(domain)),
            IncludeLaunchDescription(PythonLaunchDescriptionSource(path), launch_arguments=arguments.items()),
        ],
        scoped=True,
        forwarding=False,
        launch_configurations={k: LaunchConfiguration(k) for k in (domain, "robot_id", "port")},
    )


def generate_launch_description():
    port = LaunchConfiguration("port")
    return LaunchDescription(
        [
            DeclareLaunchArgument("robot_id", default_value="car1", description="Robot name and namespace"),
            DeclareLaunchArgument("robot_domain", default_value="21", description="ROS_DOMAIN_ID of the robot graph"),
            DeclareLaunchArgument("cloud_domain", default_value="22", description="ROS_DOMAIN_ID of the cloud graph"),
            DeclareLaunchArgument("port", default_value="7447", description="zenoh port on loopback"),
            _include("cloud.launch.py", "cloud_domain", {"listen": ["tcp/127.0.0.1:", port]}),
            _include("robot.launch.py", "robot_domain",
                     {"robot_id": LaunchConfiguration("robot_id"), "cloud": ["tcp/127.0.0.1:", port]}),
        ]
    )  # fmt: skip
