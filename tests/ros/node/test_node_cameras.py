"""Several cameras, one model: the node in its own process over real Fast DDS, replay mode.

Three cameras (two sizes), each published at its own rate (front every step, left every second,
rear every third); replay mode processes every frame, so the test counts exactly, with no
assumption about who is faster. One camera also sends garbage; cameras that stop are stale.
"""

from __future__ import annotations

import time

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import (
    LATCHED,
    NAMESPACE,
    NODE,
    NodeProcess,
    RosClient,
    diagnostics_values,
    domain_for,
    stamp_ns,
    street_image,
    to_array,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from attanet_model import Segmenter
from attanet_ros.common.image_codec import fill_image_msg

CAMERAS = {"front": (96, 160), "left": (96, 160), "rear": (128, 256)}  # two sizes
EVERY = {"front": 1, "left": 2, "rear": 3}  # publish on steps where step % EVERY == 0
STEPS = 6
FRONT_TOPIC = "/cams/front/image_raw"  # remapped, as on a vehicle; the others keep <name>/image
STALE_AFTER = 1.5


def image_topic(name: str) -> str:
    return FRONT_TOPIC if name == "front" else f"{NAMESPACE}/{name}/image"


@pytest.fixture(scope="module")
def ros():
    domain = domain_for(3)
    params = {
        "cameras": list(CAMERAS),
        "mode": "replay",
        "outputs": ["labels", "color"],
        "diagnostics_period": 0.3,
        "camera_stale_after": STALE_AFTER,
        "subscribe_compressed": True,
        "warmup_height": 96,
        "warmup_width": 160,
    }
    node = NodeProcess(domain, params=params, extra_args=["-r", f"front/image:={FRONT_TOPIC}"])
    client = RosClient(domain)
    info = client.subscribe(String, f"{NODE}/class_info", LATCHED)
    try:
        client.wait_for(lambda: info or node.proc.poll() is not None, 90, "the node to publish class_info")
        assert node.proc.poll() is None, f"node exited:\n{node.output()}"
        client.labels = {name: client.subscribe(Image, f"{NODE}/{name}/labels") for name in CAMERAS}
        client.color = {name: client.subscribe(Image, f"{NODE}/{name}/color") for name in CAMERAS}
        client.diagnostics = client.subscribe(DiagnosticArray, "/diagnostics")
        client.camera_info = {name: client.subscribe(CameraInfo, f"{NODE}/{name}/camera_info") for name in CAMERAS}
        client.pubs = {name: client.publisher(Image, image_topic(name)) for name in CAMERAS}
        client.compressed_pubs = {
            name: client.publisher(CompressedImage, image_topic(name) + "/compressed") for name in CAMERAS
        }
        client.info_pubs = {name: client.publisher(CameraInfo, f"{NAMESPACE}/{name}/camera_info") for name in CAMERAS}
        for name in CAMERAS:
            client.wait_for_node_subscribers(f"{NODE}/{name}/labels", 1)
            client.wait_for_node_subscribers(f"{NODE}/{name}/color", 1)
            client.wait_for_node_subscribers(f"{NODE}/{name}/camera_info", 1)
            for pub in (client.pubs[name], client.compressed_pubs[name], client.info_pubs[name]):
                client.wait_for_match(pub)
        yield client, node
    finally:
        client.close()
        rc = node.stop()
        print(node.output())
        assert rc == 0, f"node exited with {rc}"


def camera_status(array: DiagnosticArray, name: str) -> dict[str, str] | None:
    status = next((s for s in array.status if s.name == f"{NODE}: camera {name}"), None)
    if status is None:
        return None
    values = {kv.key: kv.value for kv in status.values}
    values["_message"], values["_level"] = status.message, status.level[0]
    return values


def diagnostics_where(client, condition, timeout: float = 20.0) -> DiagnosticArray:
    start = len(client.diagnostics)
    client.wait_for(lambda: any(condition(d) for d in client.diagnostics[start:]), timeout, "matching /diagnostics")
    return next(d for d in reversed(client.diagnostics[start:]) if condition(d))


def test_every_camera_on_its_own_topics_with_its_header_size_and_labels(ros):
    client, node = ros
    sent: dict[str, list] = {name: [] for name in CAMERAS}
    bad = fill_image_msg(Image(), dict(height=96, width=160, encoding="bgr8", step=100, data=b"\0" * 9600))
    for step in range(STEPS):
        for name, (h, w) in CAMERAS.items():
            if step % EVERY[name]:
                continue
            bgr = street_image(h, w, seed=10 * step + len(name))
            msg = client.image(bgr, frame_id=f"{name}_optical")
            client.pubs[name].publish(msg)
            sent[name].append((msg, bgr))
        if step == 1:
            client.pubs["left"].publish(bad)  # garbage on one camera, between its good frames
    for name in CAMERAS:
        client.wait_for(lambda n=name: len(client.labels[n]) >= len(sent[n]), 60, f"all labels of {name}")
        client.wait_for(lambda n=name: len(client.color[n]) >= len(sent[n]), 30, f"all colors of {name}")
    reference = Segmenter()  # the bundled model, as the node runs it
    for name, (h, w) in CAMERAS.items():
        got = client.labels[name]
        assert len(got) == len(sent[name]) == -(-STEPS // EVERY[name]), name  # nothing lost, nothing crossed over
        for out, color, (msg, bgr) in zip(got, client.color[name], sent[name], strict=True):
            assert out.header.frame_id == f"{name}_optical" and stamp_ns(out.header) == stamp_ns(msg.header)
            assert stamp_ns(color.header) == stamp_ns(msg.header)
            assert (out.height, out.width, out.encoding) == (h, w, "mono8")
            assert (to_array(out) == reference.segment(bgr).labels).mean() > 0.999
    assert "skipped a frame on /t/left/image: step 100 is smaller than" in node.output()

    def settled(array):
        cams = {name: camera_status(array, name) for name in CAMERAS}
        return all(c and int(c["frames_processed"]) == len(sent[n]) for n, c in cams.items())

    array = diagnostics_where(client, settled)
    cams = {name: camera_status(array, name) for name in CAMERAS}
    assert cams["left"]["errors.bad_step"] == "1" and cams["left"]["frames_bad_input"] == "1"
    assert cams["front"]["frames_bad_input"] == cams["rear"]["frames_bad_input"] == "0"
    for name in CAMERAS:
        assert cams[name]["frames_received"] == str(len(sent[name]) + (name == "left"))
        assert float(cams[name]["latency_p50_ms"]) > 0
    assert cams["front"]["image_topic"] == FRONT_TOPIC and cams["rear"]["image_topic"] == "/t/rear/image"
    summary = diagnostics_values(array)  # the node's own status comes first
    assert summary["cameras"] == "front,left,rear"
    # CPU: one frame per forward (batches of several need the GPU frame path)
    sizes = dict(item.split(":") for item in summary["batch_sizes"].split(","))
    assert list(sizes) == ["1"] and int(sizes["1"]) == sum(len(v) for v in sent.values())


def test_compressed_frames_and_camera_info_follow_each_cameras_topics(ros):
    """`<name>/image/compressed` follows `<name>/image`'s remapping; `<name>/camera_info` goes out
    as `~/<name>/camera_info` with the frame's header, and only for that camera."""
    client, _ = ros
    info = CameraInfo(height=128, width=256, distortion_model="plumb_bob")
    info.k = [300.0, 0.0, 128.0, 0.0, 300.0, 64.0, 0.0, 0.0, 1.0]
    client.info_pubs["rear"].publish(info)
    client.spin(0.3)
    for name in ("front", "rear"):  # front's image topic is remapped, rear's is not
        bgr = street_image(*CAMERAS[name], seed=7)
        msg = CompressedImage(format="png", data=cv2.imencode(".png", bgr)[1].tobytes())
        msg.header = client.image(bgr, frame_id=f"{name}_png").header
        client.compressed_pubs[name].publish(msg)
        client.wait_for(
            lambda n=name: any(m.header.frame_id == f"{n}_png" for m in client.labels[n]), 30, f"{name} png labels"
        )
        out = next(m for m in client.labels[name] if m.header.frame_id == f"{name}_png")
        assert stamp_ns(out.header) == stamp_ns(msg.header) and (out.height, out.width) == CAMERAS[name]
        assert (to_array(out) == Segmenter().segment(bgr).labels).mean() > 0.999  # png is lossless
    client.wait_for(lambda: any(m.header.frame_id == "rear_png" for m in client.camera_info["rear"]), 10, "camera_info")
    scaled = next(m for m in client.camera_info["rear"] if m.header.frame_id == "rear_png")
    assert (scaled.height, scaled.width) == (128, 256) and list(scaled.k) == list(info.k)
    assert not client.camera_info["front"]  # front never had a camera_info


def test_a_camera_that_stops_is_stale_while_the_others_keep_going(ros):
    client, _ = ros
    keep_going = client.image(street_image(128, 256, seed=99), frame_id="rear_optical")

    def rear_alive_others_stale(array):
        cams = {name: camera_status(array, name) for name in CAMERAS}
        return all(cams.values()) and [cams[n]["stale"] for n in CAMERAS] == ["true", "true", "false"]

    array, deadline = None, time.monotonic() + 30
    while array is None and time.monotonic() < deadline:
        client.pubs["rear"].publish(keep_going)  # rear keeps sending, a frame per diagnostics period
        client.spin(0.3)
        array = next((d for d in reversed(client.diagnostics[-3:]) if rear_alive_others_stale(d)), None)
    assert array is not None, f"front and left never stale beside a live rear: {client.diagnostics[-1]}"
    front = camera_status(array, "front")
    assert front["_level"] == 1 and front["_message"].startswith("stale: no frame for")
    # stale means older than STALE_AFTER; the value is printed to 0.1 s, so 1.52 s reads "1.5"
    assert float(front["seconds_since_last_frame"]) >= STALE_AFTER
    summary = diagnostics_values(array)
    assert summary["_level"] == 1 and summary["cameras_stale"] == "front,left"
    assert "front: stale" in summary["_message"] and "rear" not in summary["_message"]
    assert camera_status(array, "rear")["_level"] == 0
