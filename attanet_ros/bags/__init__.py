"""rosbag2 tools: make, play, record, evaluate and segment drives; never imports the node."""
