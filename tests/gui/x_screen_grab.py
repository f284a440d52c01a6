"""Grab an X display's root window until it shows enough class-palette pixels, then save it.

Run as its own process (``python x_screen_grab.py OUT.png MIN_PIXELS TIMEOUT_S`` with ``DISPLAY``
set): Qt's platform is fixed per process and the test process draws offscreen. The pixels come
from the X server (``QScreen.grabWindow(0)`` is an X GetImage), so they are what a user would see.
Exit 0 once saved, 1 on timeout (the last grab is saved anyway, for the failure message).
"""

from __future__ import annotations

import os
import sys
import time

os.environ["QT_QPA_PLATFORM"] = "xcb"

import numpy as np
from PyQt5 import QtGui

from attanet_gui.views import qimage_to_rgb
from attanet_model import CITYSCAPES_CLASSES


def palette_pixels(rgb: np.ndarray) -> int:
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette = [(r << 16) | (g << 8) | b for r, g, b in (c.color for c in CITYSCAPES_CLASSES)]
    return int(np.isin(packed, palette).sum())


def main(out: str, min_pixels: int, timeout_s: float) -> int:
    app = QtGui.QGuiApplication([sys.argv[0]])
    deadline = time.monotonic() + timeout_s
    while True:
        image = app.primaryScreen().grabWindow(0).toImage()
        if palette_pixels(qimage_to_rgb(image)) >= min_pixels or time.monotonic() > deadline:
            image.save(out)
            return 0 if palette_pixels(qimage_to_rgb(image)) >= min_pixels else 1
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
