"""ros-bench's transport floor: a stand-in for the node with no model, over real rclpy and Fast DDS."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from ros_harness import domain_for, ros_env
from sensor_msgs.msg import Image

from attanet_ros.common.image_codec import array_to_image_msg, image_from_msg
from attanet_ros.tools.bench_client import CAMERA_TOPIC, bench_client
from attanet_ros.tools.transport_floor import parse_output


def test_output_specs_are_parsed_and_bad_ones_named():
    assert parse_output("labels=512x1024:mono8") == ("labels", (512, 1024), "mono8")
    assert parse_output("overlay=64X128:rgb8") == ("overlay", (64, 128), "rgb8")
    for bad in ("labels=512x1024", "labels:mono8", "labels=0x4:mono8", "labels=4x4:bgr16", "=4x4:mono8"):
        with pytest.raises(ValueError, match="--output"):
            parse_output(bad)


def test_the_stand_in_publishes_each_output_at_its_size_with_the_camera_header():
    """Every output named comes back for each camera frame, at the size and in the encoding asked for, with
    the frame's stamp and frame_id, as the node publishes them (no model: zeros)."""
    domain = domain_for(4)
    prefix = "/bench/floor_test/"
    command = [sys.executable, "-m", "attanet_ros.tools.transport_floor", "--camera", CAMERA_TOPIC, "--prefix", prefix]
    command += ["--output", "labels=48x96:mono8", "--output", "overlay=64x128:rgb8"]
    got: dict[str, Image] = {}
    with bench_client(command, ros_env(domain), domain, "floor_test_client") as bench:
        for name in ("labels", "overlay"):
            bench.client.create_subscription(
                Image, prefix + name, lambda m, n=name: got.__setitem__(n, m), bench.reliable
            )
        bench.wait_until_connected([prefix + "labels", prefix + "overlay"])
        msg = array_to_image_msg(Image(), np.full((64, 128, 3), 7, np.uint8), "bgr8")
        msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 1234, 5678, "cam_front"
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:  # best effort in: publish again until outputs come
            bench.publisher.publish(msg)
            bench.executor.spin_once(timeout_sec=0.2)
    assert set(got) == {"labels", "overlay"}, bench.node_log()
    for name, (shape, encoding) in {"labels": ((48, 96), "mono8"), "overlay": ((64, 128, 3), "rgb8")}.items():
        out = got[name]
        assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == (1234, 5678, "cam_front")
        assert (out.height, out.width, out.encoding) == (*shape[:2], encoding)
        assert len(out.data) == int(np.prod(shape))
    assert image_from_msg(got["overlay"]).shape == (64, 128, 3)


def test_a_bad_output_spec_is_named_on_the_command_line(capsys):
    from attanet_ros.tools.transport_floor import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--camera", "/c", "--prefix", "/p/", "--output", "labels=64"])
    assert exit_info.value.code == 2
    assert "--output 'labels=64' is not NAME=HxW:ENCODING" in capsys.readouterr().err
