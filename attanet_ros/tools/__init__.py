"""Measuring tools: latency bench, soak, DDS transport check, ROS client commands; they may use
the node and the bag tools."""
