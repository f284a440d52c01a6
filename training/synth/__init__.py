"""Synthetic street scenes in the Cityscapes layout, for tests, demos and the bundled model.

Each frame is rendered from a small 3D world seen by a pinhole camera 1.2-1.6 m above a flat
road: a road in perspective with lane markings, sidewalks and terrain, building and wall boxes
with window grids, fences, trees and hedges, poles carrying traffic lights and signs, vehicles
(cars, trucks, buses, trams, motorcycles and bicycles with riders) and persons, sky with clouds.
Colours are drawn per instance from overlapping ranges (grey cars on grey roads, blue signs
against blue sky), surfaces carry noise and coarse stains, and frames get sun shadows, exposure
and white-balance changes, so the class must come from shape and context, which is what SAM's
column strips capture. All 19 evaluation classes appear, plus ego-vehicle and parking pixels
that map to the ignore label.

``generate_dataset`` writes ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` and the
``gtFine`` labelIds, labelTrainIds and colour images. The same seed gives the same bytes.
``sequence=True`` renders one world with a camera driving forward (traffic moves too), so
consecutive frames are temporally coherent, as from a real car.
"""

from .dataset import existing_frame_size, generate_dataset
from .render import render, render_frame, render_sequence
from .world import World, build_world

__all__ = [
    "World",
    "build_world",
    "existing_frame_size",
    "generate_dataset",
    "render",
    "render_frame",
    "render_sequence",
]
