"""attanet_ros."""
