"""Cloud graph: bridge (cloud mode) and cloud node, serving every robot that connects.

ros2 launch cloudseg_ros cloud.launch.py listen:=tcp/0.0.0.0:7447 engine:=auto
ros2 launch cloudseg_ros cloud.launch.py listen:=tls/0.0.0.0:7447 zenoh_config_file:=fleet/cloud.json5
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from cloudseg_ros.launch_args import cloud_overrides

PACKAGE = "cloudseg_ros"


def _nodes(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    given = {name: LaunchConfiguration(name).perform(context)
             for name in ("listen", "zenoh_config_file", "engine", "sr_model")}  # fmt: skip
    overrides = cloud_overrides(given)  # an argument left empty keeps the params file's value
    return [
        Node(package=PACKAGE, executable="bridge_node", name="bridge",
             parameters=[params_file, overrides["bridge"]], output="screen", emulate_tty=True),
        Node(package=PACKAGE, executable="cloud_node", name="cloud",
             parameters=[params_file, overrides["cloud"]], output="screen", emulate_tty=True),
    ]  # fmt: skip


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("listen", default_value="",
                                  description="zenoh endpoint(s) robots connect to, comma-separated "
                                              "(empty: from params_file, tcp/0.0.0.0:7447 in the shipped one)"),
            DeclareLaunchArgument("zenoh_config_file", default_value="",
                                  description="zenoh JSON5 config of the bridge: TLS certificates, access control "
                                              "(`cloudseg certs` writes one; empty: from params_file)"),
            DeclareLaunchArgument("engine", default_value="",
                                  description="Inference engine: auto, tensorrt, onnxruntime or torch "
                                              "(empty: from params_file)"),
            DeclareLaunchArgument("sr_model", default_value="",
                                  description="Upscaler: cloudseg (fine-tuned SR), carn_m, espcn, bicubic, bilinear "
                                              "(empty: from params_file)"),
            DeclareLaunchArgument("params_file",
                                  default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "cloud.yaml"]),
                                  description="Parameters of the cloud nodes"),
            # Shared memory big enough for camera images, DDS on this host only (config/fastdds.xml),
            # unless the user already chose a Fast DDS profile.
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fastdds.xml"]))),
            OpaqueFunction(function=_nodes),
        ]
    )  # fmt: skip
