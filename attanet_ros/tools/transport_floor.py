"""The transport floor of ``attanet ros-bench``: what bringing a camera frame to the node's process and its
outputs back costs over rclpy and Fast DDS on this machine, with no model in between.

``attanet ros-bench`` starts this stand-in for the node in its own process, as it starts the node (the
shipped shared-memory profile, glibc tuned for frames, the node's live QoS), and times it with the same
client and frames. It takes each camera frame as the node takes it (``decode_frame``: a view of the
message's pixels) and publishes, with the frame's header, every output the node published, at the size and
in the encoding the node published it, serialized as the node serializes (``image_cdr``), straight from the
subscription callback. Nothing is segmented: the output arrays are made once. So its end-to-end latency is
a floor that a Python node over rclpy and Fast DDS pays for this frame and these outputs here, whatever it
computes; what the node's own work adds is its e2e less the floor and less the Segmenter alone.

    python -m attanet_ros.tools.transport_floor --camera /bench/camera --prefix /bench/floor/ \
        --output labels=512x1024:mono8 --output color=512x1024:rgb8
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from attanet_ros.common.malloc_tuning import tune_for_frames

CHANNELS = {"mono8": 1, "rgb8": 3}


def parse_output(text: str) -> tuple[str, tuple[int, int], str]:
    """``NAME=HxW:ENCODING`` -> (name, (H, W), encoding); ValueError in words otherwise."""
    try:
        name, rest = text.split("=", 1)
        size, encoding = rest.split(":", 1)
        height, width = (int(n) for n in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--output {text!r} is not NAME=HxW:ENCODING (e.g. labels=512x1024:mono8)") from None
    if encoding not in CHANNELS or min(height, width) < 1 or not name:
        raise ValueError(f"--output {text!r}: a name, a positive HxW and one of {', '.join(CHANNELS)}")
    return name, (height, width), encoding


def _output_arg(text: str) -> tuple[str, tuple[int, int], str]:
    try:
        return parse_output(text)
    except ValueError as exc:  # argparse says a type error's own words only for ArgumentTypeError
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shape(hw: tuple[int, int], encoding: str) -> tuple[int, ...]:
    return hw if CHANNELS[encoding] == 1 else (*hw, CHANNELS[encoding])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m attanet_ros.tools.transport_floor",
        description="A stand-in for the attanet node with no model: camera frame in, outputs of the given sizes "
        "out with the frame's header (started by attanet ros-bench to measure the transport floor).",
    )
    parser.add_argument("--camera", required=True, help="the camera topic to subscribe to")
    parser.add_argument("--prefix", required=True, help="the output topics' prefix, e.g. /bench/floor/")
    parser.add_argument(
        "--output", action="append", required=True, type=_output_arg, help="NAME=HxW:ENCODING, once per output"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_for_frames()  # as the node does, before rclpy allocates its first frame
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import Image

    from attanet_ros.common.frame_pipeline import decode_frame
    from attanet_ros.common.image_codec import image_cdr
    from attanet_ros.common.qos import input_qos, output_qos

    outputs = [(name, encoding, np.zeros(_shape(hw, encoding), np.uint8)) for name, hw, encoding in args.output]
    rclpy.init()
    node = rclpy.create_node("attanet_transport_floor")
    publishers = {
        name: node.create_publisher(Image, f"{args.prefix}{name}", output_qos("live")) for name, *_ in outputs
    }

    def on_frame(msg) -> None:
        decode_frame(msg, compressed=False)  # the node's own look at the frame: a view, size checked
        for name, encoding, array in outputs:
            publishers[name].publish(image_cdr(array, encoding, msg.header))

    node.create_subscription(Image, args.camera, on_frame, input_qos("live"))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
