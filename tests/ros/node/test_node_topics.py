"""The node in its own process over real Fast DDS, replay mode (every frame processed, in order).

One node for the module, started from a parameter file (a copy of config/attanet.yaml with a
few values changed), so the tests also prove that file is loaded through rclpy.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import (
    CAMERA,
    LATCHED,
    NODE,
    PARAMS_FILE,
    NodeProcess,
    RosClient,
    class_info,
    diagnostics_values,
    domain_for,
    stamp_ns,
    street_image,
    to_array,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from attanet_model import default_model_path, labels_to_color, overlay
from attanet_model.checkpoint import read_checkpoint
from attanet_model.classes import ClassInfo
from attanet_ros.common.image_codec import decode_image, fill_image_msg

OUTPUTS = ("labels", "color", "overlay", "confidence", "attention")
ALPHA = 0.25


@pytest.fixture(scope="module")
def ros(tmp_path_factory):
    config = yaml.safe_load(PARAMS_FILE.read_text())
    params = config["/**"]["ros__parameters"]
    params.update(
        mode="replay", subscribe_compressed=True, overlay_alpha=ALPHA, outputs=list(OUTPUTS), diagnostics_period=0.5
    )
    params_file = tmp_path_factory.mktemp("params") / "attanet.yaml"
    params_file.write_text(yaml.safe_dump(config))
    domain = domain_for(0)
    node = NodeProcess(domain, params_file=params_file)
    client = RosClient(domain)
    info = client.subscribe(String, f"{NODE}/class_info", LATCHED)
    try:
        client.wait_for(lambda: info or node.proc.poll() is not None, 90, "the node to publish class_info")
        assert node.proc.poll() is None, f"node exited:\n{node.output()}"
        client.outputs = {name: client.subscribe(Image, f"{NODE}/{name}") for name in OUTPUTS}
        client.pub = client.publisher(Image)
        client.compressed_pub = client.publisher(CompressedImage, "/cam/image/compressed")
        client.info_pub = client.publisher(CameraInfo, "/cam/camera_info")
        client.diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
        client.camera_info = client.subscribe(CameraInfo, f"{NODE}/camera_info")
        for name in OUTPUTS:
            client.wait_for_node_subscribers(f"{NODE}/{name}", 1)
        client.wait_for_match(client.pub)
        client.wait_for_match(client.compressed_pub)
        yield client, node
    finally:
        client.close()
        rc = node.stop()
        print(node.output())
        assert rc == 0, f"node exited with {rc}"


def send(client, msg, wait_for=("labels",), publisher=None, timeout: float = 30.0) -> dict[str, Image]:
    """Publish ``msg`` and return the outputs (by name) that carry its stamp."""
    stamp = stamp_ns(msg.header)
    (publisher or client.pub).publish(msg)

    def found(name):
        return next((m for m in client.outputs[name] if stamp_ns(m.header) == stamp), None)

    client.wait_for(lambda: all(found(n) is not None for n in wait_for), timeout, f"{wait_for} for stamp {stamp}")
    return {name: found(name) for name in wait_for}


def latest_diagnostics(client, condition=lambda v: True, timeout: float = 10.0) -> dict[str, str]:
    start = len(client.diagnostics)

    def match():
        return any(condition(diagnostics_values(d)) for d in client.diagnostics[start:])

    client.wait_for(match, timeout, "a matching /diagnostics message")
    return next(diagnostics_values(d) for d in reversed(client.diagnostics[start:]) if condition(diagnostics_values(d)))


def test_class_info_is_latched_json_of_the_model_classes(ros):
    client, _ = ros
    late = client.subscribe(String, f"{NODE}/class_info", LATCHED)  # subscribes long after it was published
    client.wait_for(lambda: late, 10, "class_info for a late subscriber")
    payload = class_info(late[0])
    expected = read_checkpoint(default_model_path())["meta"]["classes"]
    assert [(c["id"], c["name"], list(c["color"])) for c in payload["classes"]] == [
        (c["id"], c["name"], list(c["color"])) for c in expected
    ]
    assert payload["ignore_index"] == 255


@pytest.mark.parametrize("height, width", [(64, 128), (128, 256), (96, 200)])
def test_outputs_match_input_size_and_header(ros, height, width):
    client, _ = ros
    bgr = street_image(height, width, seed=height)
    msg = client.image(bgr, frame_id=f"cam_{width}")
    out = send(client, msg, wait_for=OUTPUTS)
    for name, m in out.items():
        assert (m.height, m.width) == (height, width), name
        assert m.header.frame_id == f"cam_{width}" and stamp_ns(m.header) == stamp_ns(msg.header), name
    assert [out[n].encoding for n in OUTPUTS] == ["mono8", "rgb8", "rgb8", "mono8", "mono8"]
    classes = tuple(ClassInfo.from_dict(c) for c in class_info(_latched(client))["classes"])
    labels = to_array(out["labels"])
    assert set(np.unique(labels)) <= set(range(19)) | {255}
    np.testing.assert_array_equal(to_array(out["color"]), labels_to_color(labels, classes))
    expected_overlay = overlay(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), labels, ALPHA, classes)
    np.testing.assert_array_equal(to_array(out["overlay"]), expected_overlay)  # alpha from the params file
    confidence = to_array(out["confidence"])
    assert confidence.min() >= 255 // 19  # a max softmax over 19 classes is at least 1/19
    assert to_array(out["attention"]).max() == 255  # normalised by its peak


def _latched(client):
    late = client.subscribe(String, f"{NODE}/class_info", LATCHED)
    client.wait_for(lambda: late, 10, "class_info")
    return late[0]


def _encoded(bgr: np.ndarray, encoding: str, pad: int = 0) -> dict:
    """Image fields of ``bgr`` in ``encoding``, rows padded by ``pad`` bytes."""
    convert = {
        "bgr8": None,
        "rgb8": cv2.COLOR_BGR2RGB,
        "bgra8": cv2.COLOR_BGR2BGRA,
        "rgba8": cv2.COLOR_BGR2RGBA,
        "mono8": cv2.COLOR_BGR2GRAY,
        "yuv422": cv2.COLOR_BGR2YUV_UYVY,
        "yuv422_yuy2": cv2.COLOR_BGR2YUV_YUY2,
    }
    if encoding == "mono16":
        wire = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(">u2") * 257
    else:
        wire = bgr if convert[encoding] is None else cv2.cvtColor(bgr, convert[encoding])
    rows = np.ascontiguousarray(wire).reshape(wire.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.full((rows.shape[0], pad), 7, np.uint8)], axis=1)
    h, w = bgr.shape[:2]
    return dict(
        height=h,
        width=w,
        encoding=encoding,
        step=rows.shape[1],
        data=rows.tobytes(),
        is_bigendian=int(encoding == "mono16"),
    )


@pytest.mark.parametrize(
    "encoding, pad",
    [
        ("rgb8", 0),
        ("rgb8", 6),
        ("bgra8", 0),
        ("rgba8", 4),
        ("mono8", 3),
        ("mono16", 2),
        ("yuv422", 0),
        ("yuv422_yuy2", 8),
        ("bgr8", 5),
    ],
)
def test_every_encoding_is_segmented_like_its_bgr_pixels(ros, encoding, pad):
    """The node must see exactly the pixels the codec decodes (the codec is checked against
    cv2/BT.601 in test_image_codec): same labels as for those pixels sent as bgr8."""
    client, _ = ros
    bgr = street_image(64, 128, seed=5)
    fields = _encoded(bgr, encoding, pad)
    msg = fill_image_msg(Image(), fields)
    reference = client.image(decode_image(**fields))
    msg.header = client.image(bgr).header
    expected = to_array(send(client, reference)["labels"])
    got = to_array(send(client, msg)["labels"])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_compressed_input(ros, ext):
    client, _ = ros
    bgr = street_image(64, 128, seed=9)
    ok, blob = cv2.imencode(ext, bgr)
    assert ok
    msg = CompressedImage(format="jpeg" if ext == ".jpg" else "png")
    msg.data = blob.tobytes()
    msg.header = client.image(bgr, frame_id="compressed_cam").header
    reference = client.image(cv2.imdecode(blob, cv2.IMREAD_COLOR))
    expected = to_array(send(client, reference)["labels"])
    out = send(client, msg, publisher=client.compressed_pub)["labels"]
    assert out.header.frame_id == "compressed_cam"
    np.testing.assert_array_equal(to_array(out), expected)


BAD_INPUTS = {
    "short_data": dict(height=64, width=128, encoding="bgr8", step=384, data=b"\0" * 1000),
    "bad_step": dict(height=64, width=128, encoding="bgr8", step=100, data=b"\0" * 6400),
    "unsupported_encoding": dict(height=64, width=128, encoding="nv21", step=128, data=b"\0" * 128 * 96),
    "bad_encoding": dict(height=64, width=128, encoding="16UC1", step=256, data=b"\0" * 256 * 64),  # depth
    "empty": dict(height=0, width=0, encoding="bgr8", step=0, data=b""),
    "too_large": dict(height=100_000, width=100_000, encoding="bgr8", step=300_000, data=b"\0" * 16),
    "bad_size": dict(height=4, width=4, encoding="bgr8", step=12, data=b"\0" * 48),
}


def test_bad_inputs_are_counted_and_the_next_good_frame_is_processed(ros):
    client, node = ros
    before = latest_diagnostics(client)
    for kind, fields in BAD_INPUTS.items():
        bad = fill_image_msg(Image(), fields)
        bad.header = client.image(street_image(8, 8)).header
        client.pub.publish(bad)
        good = client.image(street_image(64, 128, seed=1))
        assert send(client, good)["labels"].height == 64, kind
        assert not any(stamp_ns(m.header) == stamp_ns(bad.header) for m in client.outputs["labels"]), kind
    garbage = CompressedImage(format="jpeg")
    garbage.data = b"definitely not a jpeg"
    garbage.header = client.image(street_image(8, 8)).header
    client.compressed_pub.publish(garbage)
    send(client, client.image(street_image(64, 128, seed=2)))
    expected = {f"errors.{kind}": 1 for kind in [*BAD_INPUTS, "bad_compressed"]}

    def counted(values):
        return all(int(values.get(k, 0)) - int(before.get(k, 0)) == n for k, n in expected.items())

    values = latest_diagnostics(client, counted)
    assert values["_level"] in (0, 1)
    assert node.proc.poll() is None
    log = node.output()
    assert "data has 1000 bytes but step x height = 384 x 64 = 24576" in log
    assert "'nv21' is not supported" in log
    assert f"skipped a frame on {CAMERA}: image encoding '16UC1' is a depth/data image, not a camera frame" in log
    assert "could not be decoded as jpeg/png" in log


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM in /proc/PID/status), MB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_a_compressed_image_bomb_is_refused_from_its_header(ros):
    """A PNG of ~0.4 MB declaring 20000x20000 (1.2 GB once decoded to BGR): refused as too_large from its
    header, counted, the node's peak memory does not jump, and the next frame (sent after it on the
    same topic, so processed after it in replay mode) is answered."""
    client, node = ros
    from damaged_files import png_bomb

    def compressed(bgr_or_png, frame_id):
        png = bgr_or_png if isinstance(bgr_or_png, bytes) else cv2.imencode(".png", bgr_or_png)[1].tobytes()
        msg = CompressedImage(format="png", data=png)
        msg.header = client.image(street_image(8, 8), frame_id=frame_id).header
        return msg

    send(client, compressed(street_image(64, 128, seed=11), "warm"), publisher=client.compressed_pub)
    before = latest_diagnostics(client)
    peak_before = _peak_rss_mb(node.proc.pid)
    client.compressed_pub.publish(compressed(png_bomb(20000, 20000), "bomb"))
    after_bomb = send(client, compressed(street_image(64, 128, seed=12), "after"), publisher=client.compressed_pub)
    assert after_bomb["labels"].header.frame_id == "after"
    growth = _peak_rss_mb(node.proc.pid) - peak_before
    assert growth < 200, f"the node's peak memory grew by {growth:.0f} MB"
    values = latest_diagnostics(
        client, lambda v: int(v.get("errors.too_large", 0)) > int(before.get("errors.too_large", 0))
    )
    assert int(values["errors.too_large"]) == int(before.get("errors.too_large", 0)) + 1
    assert not any(m.header.frame_id == "bomb" for m in client.outputs["labels"])
    # (the log line is rate-limited per kind, shared with the other too_large tests: its words are
    # checked in test_image_codec)


def test_bad_input_log_lines_are_rate_limited(ros):
    client, node = ros
    before = int(latest_diagnostics(client).get("errors.bad_step", 0))
    for _ in range(4):
        bad = fill_image_msg(Image(), dict(BAD_INPUTS["bad_step"], step=101))
        bad.header = client.image(street_image(8, 8)).header
        client.pub.publish(bad)
    send(client, client.image(street_image(64, 128, seed=3)))
    latest_diagnostics(client, lambda v: int(v.get("errors.bad_step", 0)) == before + 4)
    # 5+ bad_step frames within a few seconds (log_throttle_period 5 s): at most 2 lines, not one per frame
    assert node.output().count("is smaller than width x bytes per pixel") <= 2


def test_replay_processes_every_frame_in_order(ros):
    client, _ = ros
    n = 20
    start = len(client.outputs["labels"])
    stamps = []
    for i in range(n):
        msg = client.image(street_image(64, 128, seed=i), frame_id="replay")
        stamps.append(stamp_ns(msg.header))
        client.pub.publish(msg)  # as fast as rclpy publishes: the node must keep every one
    client.wait_for(
        lambda: len([m for m in client.outputs["labels"][start:] if m.header.frame_id == "replay"]) >= n,
        60,
        f"{n} labels",
    )
    got = [stamp_ns(m.header) for m in client.outputs["labels"][start:] if m.header.frame_id == "replay"]
    assert got == stamps


def test_camera_info_is_republished_with_the_image_header(ros):
    client, _ = ros
    info = CameraInfo(height=64, width=128, distortion_model="plumb_bob", d=[0.0])
    info.k = [100.0, 0.0, 64.0, 0.0, 100.0, 32.0, 0.0, 0.0, 1.0]
    info.p = [100.0, 0.0, 64.0, 0.0, 0.0, 100.0, 32.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg, out = send_with_camera_info(client, info, street_image(64, 128))
    assert stamp_ns(out.header) == stamp_ns(msg.header)
    assert (out.height, out.width) == (64, 128) and list(out.k) == list(info.k)  # input resolution: unscaled


def send_with_camera_info(client, info: CameraInfo, bgr, attempts: int = 10):
    """(the image sent, the node's ~/camera_info for it, made from ``info``: same ``d``). The node
    republishes the newest camera_info it holds with each frame; whether ours reached it before the
    frame is not ordered across topics, so send the pair again (a new frame_id) until the frame comes
    back with it."""
    for attempt in range(attempts):
        client.info_pub.publish(info)
        msg = client.image(bgr, frame_id=f"with_info{attempt}_{info.d[0] if info.d else 0}")
        send(client, msg)
        try:
            client.wait_for(lambda m=msg: _info_for(client, m) is not None, 5, "camera_info")
        except AssertionError:
            continue
        if list(_info_for(client, msg).d) == list(info.d):
            return msg, _info_for(client, msg)
    raise AssertionError(f"no ~/camera_info from this camera_info came back with any of {attempts} frames")


def _info_for(client, msg):
    return next((m for m in client.camera_info if m.header.frame_id == msg.header.frame_id), None)


def _camera_info(height: int, width: int, fx: float, marker: float) -> CameraInfo:
    """A pinhole camera_info for ``height`` x ``width`` images, principal point at the centre;
    ``marker`` (its one distortion coefficient) tells its republished copies apart."""
    info = CameraInfo(height=height, width=width, distortion_model="plumb_bob", d=[marker])
    info.k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, width / 2, 0.0, 0.0, fx, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_camera_info_for_a_larger_size_of_the_same_aspect_is_scaled_from_its_own_size(ros):
    """Calibrated at 1024x2048, frames arrive at 64x128 (the driver downscales by 16): K and P describe
    the frames (cx was republished as 1024, outside the 128-pixel-wide image)."""
    client, _ = ros
    info = _camera_info(1024, 2048, fx=1600.0, marker=0.11)
    msg, out = send_with_camera_info(client, info, street_image(64, 128))
    assert stamp_ns(out.header) == stamp_ns(msg.header) and (out.height, out.width) == (64, 128)
    np.testing.assert_allclose(out.k, [100.0, 0, 64.0, 0, 100.0, 32.0, 0, 0, 1])
    np.testing.assert_allclose(list(out.p)[:7], [100.0, 0, 64.0, 0, 0, 100.0, 32.0])


def test_camera_info_that_does_not_fit_the_frames_is_counted_said_and_not_republished(ros):
    """A 1024x2048 camera_info beside 64x100 frames (another aspect ratio): no ~/camera_info with its K
    (cx would be outside the image); counted in /diagnostics at WARN, and a warning in the log."""
    client, node = ros
    info = _camera_info(1024, 2048, fx=1000.0, marker=0.22)
    start = len(client.diagnostics)
    before = int(latest_diagnostics(client)["camera_info_mismatched"])
    sent = []

    def counted(values) -> bool:
        return int(values["camera_info_mismatched"]) > before and values["_level"] == 1

    found = None
    for attempt in range(10):  # camera_info and frames travel on different topics: until one frame met it
        client.info_pub.publish(info)
        sent.append(client.image(street_image(64, 100), frame_id=f"misfit{attempt}"))
        send(client, sent[-1])
        client.spin(0.6)  # one diagnostics period
        found = next((v for d in client.diagnostics[start:] if counted(v := diagnostics_values(d))), None)
        if found:
            break
    assert found is not None, "no frame was counted as camera_info_mismatched"
    problem = "camera_info describes 1024x2048 (HxW) images but the frame is 64x100, another aspect ratio"
    assert problem in found["_message"] and "without ~/camera_info" in found["_message"]
    assert f"/cam/camera_info: {problem}" in node.output()
    client.spin(0.5)
    ids = {m.header.frame_id for m in sent}
    assert not [m for m in client.camera_info if m.header.frame_id in ids and list(m.d) == [0.22]]


def test_parameter_callbacks_accept_valid_and_reject_invalid_values(ros):
    client, _ = ros
    results = client.set_parameters(overlay_alpha=0.0)
    assert results[0].successful, results[0].reason
    bgr = street_image(64, 128, seed=4)
    out = send(client, client.image(bgr), wait_for=("overlay",))["overlay"]
    np.testing.assert_array_equal(to_array(out), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # alpha 0: the image itself

    bad = client.set_parameters(overlay_alpha=1.5)[0]
    assert not bad.successful and "overlay_alpha=1.5 must be in [0, 1]" in bad.reason
    bad = client.set_parameters(confidence_threshold=-0.1)[0]
    assert not bad.successful and "confidence_threshold" in bad.reason
    fixed = client.set_parameters(mode="live")[0]
    assert not fixed.successful and "mode" in fixed.reason

    assert client.set_parameters(confidence_threshold=1.0)[0].successful
    out = send(client, client.image(bgr), wait_for=("labels", "confidence"))
    labels, confidence = to_array(out["labels"]), to_array(out["confidence"])
    assert (labels[confidence < 255] == 255).all()  # below the threshold -> unlabeled
    assert client.set_parameters(confidence_threshold=0.0, overlay_alpha=ALPHA)[0].successful
    labels = to_array(send(client, client.image(bgr))["labels"])
    assert (labels != 255).all()


def test_outputs_nobody_subscribes_to_are_not_computed(ros):
    client, _ = ros
    client.unsubscribe_all()
    client.outputs = {"labels": client.subscribe(Image, f"{NODE}/labels")}
    client.diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
    client.wait_for(lambda: client.node.count_subscribers(f"{NODE}/color") == 0, 10, "color unsubscribed")
    # the node's view of the graph catches up at its own pace: send frames until one shows it
    values = _send_until(client, lambda v: v.get("outputs_active") == "labels", "outputs_active == labels")
    assert values["outputs_active"] == "labels"

    client.unsubscribe_all()
    client.diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
    before = int(latest_diagnostics(client)["frames_skipped_no_subscribers"])
    values = _send_until(client, lambda v: int(v["frames_skipped_no_subscribers"]) > before, "a skipped frame")
    assert values["outputs_active"] == ""


def _send_until(client, condition, what: str, timeout: float = 60.0) -> dict[str, str]:
    """Publish a frame, look at the next diagnostics, again until ``condition`` holds for one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        client.pub.publish(client.image(street_image(64, 128)))
        try:
            return latest_diagnostics(client, condition, timeout=3.0)
        except AssertionError:
            continue
    raise AssertionError(f"no /diagnostics with {what} within {timeout} s")


def test_diagnostics_name_the_inference_thread_and_auto_runs_torch_for_attention(ros):
    client, node = ros
    values = latest_diagnostics(client)
    # the params file says backend auto (the default) and outputs include attention: torch runs, said
    assert values["backend"] == "torch"
    assert "backend auto with output 'attention': running torch (attention needs it)" in node.output()
    cores = len(os.sched_getaffinity(0))
    policy = os.environ["OMP_WAIT_POLICY"]  # PASSIVE unless the user set one: importing attanet_ros.node sets it
    assert values["inference_thread"] == f"{cores} torch intra-op threads, OMP_WAIT_POLICY={policy}"
