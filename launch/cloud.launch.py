"""Cloud graph: bridge (cloud mode) and cloud node, serving every robot that connects.

ros2 launch cloudseg_ros cloud.launch.py listen:=tcp/0.0.0.0:7447 engine:=auto
ros2 launch cloudseg_ros cloud.launch.py listen:=tls/0.0.0.0:7447 zenoh_config_file:=fleet/cloud.json5
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from cloudseg_ros.launch_args import check_params_file, cloud_overrides, dds_env

PACKAGE = "cloudseg_ros"
NODES = (("bridge_node", "bridge"), ("cloud_node", "cloud"))


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    params_file = check_params_file(arg("params_file"))
    # an argument left empty keeps the params file's value
    overrides = cloud_overrides(
        {name: arg(name) for name in ("listen", "zenoh_config_file", "engine", "sr_model")}
    )
    shipped_dds = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fastdds.xml"]).perform(context)
    env = dds_env(arg("dds_profile"), context.environment, shipped_dds)
    return [
        Node(package=PACKAGE, executable=executable, name=name, parameters=[params_file, overrides[name]],
             additional_env=env, output="screen", emulate_tty=True)
        for executable, name in NODES
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
            DeclareLaunchArgument("dds_profile", default_value="",
                                  description="Fast DDS profile of the nodes: empty = config/fastdds.xml (shared "
                                              "memory, this host only) unless FASTDDS_DEFAULT_PROFILES_FILE is set; "
                                              "none = leave DDS as the environment has it; or a file"),
            DeclareLaunchArgument("params_file",
                                  default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "cloud.yaml"]),
                                  description="Parameters of the cloud nodes"),
            OpaqueFunction(function=_nodes),
        ]
    )  # fmt: skip
