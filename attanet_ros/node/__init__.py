"""The segmentation node: engine, plain and lifecycle rclpy nodes, parameters, diagnostics.

``attanet_node`` and ``python -m attanet_ros.node`` start :func:`main`; importing this package loads no rclpy.
Every entry point of the node (``python -m attanet_ros.node``, ``attanet_node``, the lifecycle node) imports
this package before torch: OpenMP's wait policy is set here, the one moment libgomp has not read it yet
(``inference_thread.quiet_openmp_waits``; a user's value wins). Only the node's processes get it: the bag and
measuring tools, which import other subpackages, keep OpenMP's defaults.
"""

from attanet_ros.node.inference_thread import quiet_openmp_waits

quiet_openmp_waits()


def main(argv=None):
    from .ros_node import main as run

    return run(argv)
