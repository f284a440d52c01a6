"""``python -m attanet_ros.node``: the plain segmentation node."""

import sys

from .ros_node import main

sys.exit(main())
