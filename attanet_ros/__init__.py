"""attanet_ros.

Every entry point of the node (``python -m attanet_ros.node``, ``attanet_node``, the lifecycle
node) imports this package before torch: OpenMP's wait policy is set here, the one moment
libgomp has not read it yet (``inference_thread.quiet_openmp_waits``; a user's value wins).
"""

from attanet_ros.node.inference_thread import quiet_openmp_waits

quiet_openmp_waits()
