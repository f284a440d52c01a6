"""What every part of attanet_ros shares: image encodings on the wire, QoS profiles, DDS
environment, command-line flags. Imports nothing else of the package."""
