"""The class legend: a colour swatch, a show/hide check box and the pixel share of each class."""

from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from attanet_model import ClassInfo


class ClassLegend(QtWidgets.QTableWidget):
    """One row per class. Unchecking a class hides it from the labels and overlay views.

    Emits ``hiddenChanged`` with the set of hidden class ids whenever a box is toggled.
    """

    hiddenChanged = QtCore.pyqtSignal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["class", "pixels"])
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        self.horizontalHeader().setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeToContents)
        self.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        self.setFocusPolicy(QtCore.Qt.NoFocus)
        self._classes: tuple[ClassInfo, ...] = ()
        self._rows: dict[int, int] = {}
        self.itemChanged.connect(self._on_item_changed)

    def set_classes(self, classes: tuple[ClassInfo, ...]) -> None:
        """Fill the table (only when the class table really changes: the check states survive frames)."""
        classes = tuple(classes)
        if classes == self._classes:
            return
        hidden = self.hidden()
        self.blockSignals(True)
        self._classes = classes
        self._rows = {c.id: row for row, c in enumerate(classes)}
        self.setRowCount(len(classes))
        for row, c in enumerate(classes):
            item = QtWidgets.QTableWidgetItem(_swatch(c.color), c.name)
            item.setFlags(QtCore.Qt.ItemIsEnabled | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.Unchecked if c.id in hidden else QtCore.Qt.Checked)
            item.setData(QtCore.Qt.UserRole, c.id)
            share = QtWidgets.QTableWidgetItem("")
            share.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
            share.setFlags(QtCore.Qt.ItemIsEnabled)
            self.setItem(row, 0, item)
            self.setItem(row, 1, share)
        self.resizeRowsToContents()
        self.blockSignals(False)

    def set_shares(self, shares: dict[int, float]) -> None:
        """Update the pixel-share column, e.g. {0: 0.31, 2: 0.12, ...} (fractions of the image)."""
        self.blockSignals(True)
        for class_id, row in self._rows.items():
            self.item(row, 1).setText(f"{100.0 * shares.get(class_id, 0.0):.1f} %")
        self.blockSignals(False)

    def share_text(self, class_id: int) -> str:
        return self.item(self._rows[class_id], 1).text()

    def hidden(self) -> frozenset[int]:
        out = set()
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.checkState() != QtCore.Qt.Checked:
                out.add(int(item.data(QtCore.Qt.UserRole)))
        return frozenset(out)

    def set_visible_class(self, class_id: int, visible: bool) -> None:
        """Check or uncheck one class, as a click on its box does."""
        if class_id not in self._rows:
            known = ", ".join(str(i) for i in self._rows)
            raise ValueError(f"class id {class_id} is not in the legend (ids: {known})")
        self.item(self._rows[class_id], 0).setCheckState(QtCore.Qt.Checked if visible else QtCore.Qt.Unchecked)

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if item.column() == 0:
            self.hiddenChanged.emit(self.hidden())


def _swatch(color: tuple[int, int, int]) -> QtGui.QIcon:
    pixmap = QtGui.QPixmap(14, 14)
    pixmap.fill(QtGui.QColor(*color))
    return QtGui.QIcon(pixmap)
