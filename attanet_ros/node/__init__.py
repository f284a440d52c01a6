"""The segmentation node: engine, plain and lifecycle rclpy nodes, parameters, diagnostics.

``attanet_node`` and ``python -m attanet_ros.node`` start :func:`main`; importing this package loads no rclpy.
"""


def main(argv=None):
    from .ros_node import main as run

    return run(argv)
