"""One frame's output images, published the moment each is made (the node's worker hands them over
as ``FramePipeline.run_many`` makes them: labels first)."""

from __future__ import annotations

import time

from attanet_ros.common.image_codec import image_cdr

ENCODINGS = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "confidence": "mono8", "attention": "mono8"}


class OutputPublishing:
    """Publishes one frame's output images as they are made, each serialized in one copy (no array.array,
    no rmw conversion). A failed publish is kept (``failed``), the frame's later images skipped, and the
    other frames of a batch go on."""

    def __init__(self, frame) -> None:
        self.frame = frame
        self.seconds = 0.0  # time spent publishing
        self.failed: Exception | None = None

    def __call__(self, name: str, array) -> None:
        if self.failed is not None or array is None or name not in self.frame.wanted:
            return
        started = time.perf_counter()
        try:
            self.frame.channel.image_pubs[name].publish(image_cdr(array, ENCODINGS[name], self.frame.msg.header))
        except Exception as exc:
            self.failed = exc
        finally:
            self.seconds += time.perf_counter() - started
