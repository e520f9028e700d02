"""Robot graph: camera, edge, bridge (robot mode) and mask nodes in the robot's namespace.

    ros2 launch cloudseg_ros robot.launch.py robot_id:=car1 cloud:=tcp/1.2.3.4:7447
    ros2 launch cloudseg_ros robot.launch.py controller:=true   # adapt the edge to the uplink
    ros2 launch cloudseg_ros robot.launch.py cloud:=tls/cloud.example.org:7447 zenoh_config_file:=fleet/car1.json5

All parameters come from config/robot.yaml (or params_file:=...); a launch argument
that is given overrides its parameter, one left empty keeps the file's value.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from cloudseg_ros.launch_args import robot_overrides

PACKAGE = "cloudseg_ros"
NODES = (("camera_node", "camera"), ("edge_node", "edge"), ("bridge_node", "bridge"), ("mask_node", "mask"))
CONTROLLER = ("controller_node", "controller")  # bitrate controller, behind controller:=true


def _nodes(context):
    robot_id = LaunchConfiguration("robot_id").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context)
    with_controller = LaunchConfiguration("controller").perform(context).lower() in ("true", "1", "yes")
    nodes = NODES + ((CONTROLLER,) if with_controller else ())
    given = {
        name: LaunchConfiguration(name).perform(context)
        for name in ("cloud", "zenoh_config_file", "source", "uri")
    }
    overrides = robot_overrides(given)
    return [
        Node(
            package=PACKAGE,
            executable=executable,
            name=name,
            namespace=robot_id,
            parameters=[params_file, overrides.get(name, {})],
            output="screen",
            emulate_tty=True,
        )
        for executable, name in nodes
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("robot_id", default_value="car1",
                                  description="Robot name: ROS namespace and zenoh key prefix"),
            DeclareLaunchArgument("cloud", default_value="",
                                  description="The cloud's zenoh endpoint(s), comma-separated "
                                              "(empty: from params_file, tcp/127.0.0.1:7447 in the shipped one)"),
            DeclareLaunchArgument("zenoh_config_file", default_value="",
                                  description="zenoh JSON5 config of the bridge: TLS certificates, access control "
                                              "(`cloudseg certs` writes one; empty: from params_file)"),
            DeclareLaunchArgument("source", default_value="",
                                  description="Camera source: synthetic, video, folder, v4l2 or mcap "
                                              "(empty: from params_file, synthetic in the shipped one)"),
            DeclareLaunchArgument("uri", default_value="",
                                  description="Video file, image folder, /dev/videoN or recording for the camera "
                                              "source (empty: from params_file)"),
            DeclareLaunchArgument("controller", default_value="false",
                                  description="Run the bitrate controller (adapts the edge's knobs to the uplink)"),
            DeclareLaunchArgument("params_file",
                                  default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "robot.yaml"]),
                                  description="Parameters of the robot nodes"),
            # Shared memory big enough for camera images, DDS on this host only (config/fastdds.xml),
            # unless the user already chose a Fast DDS profile.
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fastdds.xml"]))),
            OpaqueFunction(function=_nodes),
        ]
    )  # fmt: skip
