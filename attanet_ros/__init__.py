"""attanet_ros: the segmentation node (``node``), rosbag tools (``bags``), measuring tools (``tools``) and
what they share (``common``). Importing this package has no side effects; the node's package sets
OpenMP's wait policy (``attanet_ros.node``)."""
