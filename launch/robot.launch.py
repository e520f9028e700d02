"""Robot graph: camera, edge, bridge (robot mode) and mask nodes in the robot's namespace.

    ros2 launch cloudseg_ros robot.launch.py robot_id:=car1 cloud:=tcp/1.2.3.4:7447
    ros2 launch cloudseg_ros robot.launch.py controller:=true   # adapt the edge to the uplink
    ros2 launch cloudseg_ros robot.launch.py cloud:=tls/cloud.example.org:7447 zenoh_config_file:=fleet/car1.json5
    ros2 launch cloudseg_ros robot.launch.py camera:=false image_topic:=/front/image_raw   # the robot's own camera

All parameters come from config/robot.yaml (or params_file:=...); a launch argument
that is given overrides its parameter, one left empty keeps the file's value.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from cloudseg_ros.launch_args import check_params_file, dds_env, flag, image_remaps, robot_overrides

PACKAGE = "cloudseg_ros"
NODES = (("camera_node", "camera"), ("edge_node", "edge"), ("bridge_node", "bridge"), ("mask_node", "mask"))
CONTROLLER = ("controller_node", "controller")  # bitrate controller, behind controller:=true


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    params_file = check_params_file(arg("params_file"))
    nodes = [n for n in NODES if n[1] != "camera" or flag("camera", arg("camera"))]
    nodes += [CONTROLLER] if flag("controller", arg("controller")) else []
    overrides = robot_overrides({name: arg(name) for name in ("cloud", "zenoh_config_file", "source", "uri",
                                                              "width", "height")})  # fmt: skip
    remaps = image_remaps(arg("image_topic"))
    shipped_dds = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fastdds.xml"]).perform(context)
    env = dds_env(arg("dds_profile"), context.environment, shipped_dds)
    return [
        Node(
            package=PACKAGE,
            executable=executable,
            name=name,
            namespace=arg("robot_id"),
            parameters=[params_file, overrides.get(name, {})],
            remappings=remaps if name in ("edge", "mask") else [],
            additional_env=env,
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
            DeclareLaunchArgument("width", default_value="",
                                  description="Published camera width [px], 0 = the source's own or from height "
                                              "keeping its aspect (empty: from params_file, 1024 in the shipped one)"),
            DeclareLaunchArgument("height", default_value="",
                                  description="Published camera height [px], 0 = the source's own or from width "
                                              "keeping its aspect (empty: from params_file, 512 in the shipped one)"),
            DeclareLaunchArgument("camera", default_value="true",
                                  description="Start the package's camera node; false: the robot's own driver "
                                              "publishes the images (see image_topic)"),
            DeclareLaunchArgument("image_topic", default_value="",
                                  description="Image topic the edge and mask nodes read (sensor_msgs/Image; "
                                              "empty: camera/image_raw in the robot's namespace)"),
            DeclareLaunchArgument("controller", default_value="false",
                                  description="Run the bitrate controller (adapts the edge's knobs to the uplink)"),
            DeclareLaunchArgument("dds_profile", default_value="",
                                  description="Fast DDS profile of the nodes: empty = config/fastdds.xml (shared "
                                              "memory, this host only) unless FASTDDS_DEFAULT_PROFILES_FILE is set; "
                                              "none = leave DDS as the environment has it; or a file"),
            DeclareLaunchArgument("params_file",
                                  default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "robot.yaml"]),
                                  description="Parameters of the robot nodes"),
            OpaqueFunction(function=_nodes),
        ]
    )  # fmt: skip
