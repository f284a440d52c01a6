"""The image widget: draws an RGB array scaled to fit, and reports hover and clicks in image pixels."""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets


def to_qimage(rgb: np.ndarray) -> QtGui.QImage:
    """An HxWx3 uint8 RGB array as a QImage that owns its pixels (safe after ``rgb`` goes away)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()


def qimage_to_rgb(image: QtGui.QImage) -> np.ndarray:
    """A QImage (any format) as an HxWx3 uint8 RGB array; tests read rendered pixels with it."""
    image = image.convertToFormat(QtGui.QImage.Format_RGB888)
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(bpl * h), np.uint8).reshape(h, bpl)
    return data[:, : 3 * w].reshape(h, w, 3).copy()


class ImageView(QtWidgets.QWidget):
    """Shows one picture, aspect kept, centred; emits positions in the picture's own pixels.

    Signals carry image coordinates so the window can look them up in the frame's arrays
    whatever the widget's size.
    """

    hovered = QtCore.pyqtSignal(int, int)
    clicked = QtCore.pyqtSignal(int, int)
    left = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Expanding)
        self._image: QtGui.QImage | None = None
        self._placeholder = "waiting for the first frame..."

    def set_image(self, rgb: np.ndarray) -> None:
        self._image = to_qimage(rgb)
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the picture shown, or None before the first frame."""
        return None if self._image is None else (self._image.width(), self._image.height())

    def target_rect(self) -> QtCore.QRectF:
        """Where the picture lands inside the widget (aspect kept, centred)."""
        if self._image is None:
            return QtCore.QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QtCore.QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_image_coords(self, pos: QtCore.QPointF) -> tuple[int, int] | None:
        rect = self.target_rect()
        if self._image is None or not rect.contains(pos):
            return None
        x = int((pos.x() - rect.left()) * self._image.width() / rect.width())
        y = int((pos.y() - rect.top()) * self._image.height() / rect.height())
        return min(x, self._image.width() - 1), min(y, self._image.height() - 1)

    def to_widget_coords(self, x: float, y: float) -> QtCore.QPointF:
        """The widget position of image pixel (x, y)'s centre (tests use it to hover and click)."""
        rect = self.target_rect()
        return QtCore.QPointF(
            rect.left() + (x + 0.5) * rect.width() / self._image.width(),
            rect.top() + (y + 0.5) * rect.height() / self._image.height(),
        )

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor(24, 24, 24))
        if self._image is None:
            painter.setPen(QtGui.QColor(200, 200, 200))
            painter.drawText(self.rect(), QtCore.Qt.AlignCenter, self._placeholder)
            return
        painter.setRenderHint(QtGui.QPainter.SmoothPixmapTransform, True)
        painter.drawImage(self.target_rect(), self._image)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        coords = self.to_image_coords(QtCore.QPointF(event.pos()))
        if coords is None:
            self.left.emit()
        else:
            self.hovered.emit(*coords)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        coords = self.to_image_coords(QtCore.QPointF(event.pos()))
        if coords is not None and event.button() == QtCore.Qt.LeftButton:
            self.clicked.emit(*coords)

    def leaveEvent(self, event: QtCore.QEvent) -> None:
        self.left.emit()
