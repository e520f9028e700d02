"""cloudseg_ros: cloud semantic segmentation for robots with a weak uplink.

The robot sends selected, downscaled frames over zenoh; the cloud restores high
resolution with a segmentation-aware super-resolution model, segments, and sends
class-id masks back (CloudSeg, see README).
"""

from pkgutil import extend_path

# The generated message code (cloudseg_ros.msg and its type-support libraries) is
# installed by rosidl into site-packages/cloudseg_ros. Extending the package path
# lets it be found also when this source tree comes first on sys.path (running
# from a checkout), so `cloudseg_ros.msg` always resolves.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
