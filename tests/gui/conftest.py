"""Offscreen Qt for every viewer test (set before PyQt5 loads) and one QApplication."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before PyQt5 is imported anywhere

import pytest
from PyQt5 import QtWidgets


@pytest.fixture(scope="session")
def qapp() -> QtWidgets.QApplication:
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["attanet-tests"])


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """A small checkpoint with non-trivial attention (see gui_helpers.calibrated_model)."""
    from gui_helpers import calibrated_model

    path = tmp_path_factory.mktemp("model") / "attanet_light_calibrated.pt"
    calibrated_model(path)
    return path
