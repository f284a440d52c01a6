"""The ROS tests' shared helpers (ros_harness, launch_sources) are imported by name from this folder by the
tests in node/, common/, tools/ and bags/: pytest puts a conftest's folder on sys.path."""
