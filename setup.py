"""attanet_ros: one package that is both an ament_python ROS 2 package and a plain pip package."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "attanet_ros"
# import name -> folder: training/, gui/ and bench/ are generic folder names; they install under project-specific names
FOLDERS = {
    "attanet_model": "attanet_model",
    "attanet_ros": "attanet_ros",
    "attanet_training": "training",
    "attanet_gui": "gui",
    "attanet_bench": "bench",
}


def packages() -> list[str]:
    """Every package and subpackage (attanet_ros.node, attanet_ros.bags.storage, ...): a non-editable install or
    colcon build that lists only the top-level names leaves the subpackages out."""
    found = []
    for name, folder in FOLDERS.items():
        found += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(
    name=PACKAGE,
    version="0.1.0",
    description="AttaNet real-time semantic segmentation for ROS 2: node, training, ONNX deployment, "
    "rosbag evaluation and a PyQt5 viewer",
    license="MIT",
    python_requires=">=3.10",
    packages=packages(),
    package_dir={name: folder for name, folder in FOLDERS.items() if name != folder},
    py_modules=["attanet_cli", "attanet_demo", "attanet_demo_steps"],
    package_data={
        "attanet_model": ["weights/*.pt", "weights/*.md", "assets/calibration/*", "assets/agreement/*"],
        "attanet_training": ["configs/*.yaml"],
        "attanet_ros": ["interfaces/vision_msgs/msg/*.msg", "interfaces/vision_msgs/NOTICE"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        # the launch files and _common.py, the part they share (loaded by path from beside them)
        ("share/" + PACKAGE + "/launch", glob("launch/*.launch.py") + ["launch/_common.py"]),
        ("share/" + PACKAGE + "/config", glob("config/*")),
    ],
    # rclpy and the message packages come from ROS 2 (or the ros-kilted-* pip wheels, see
    # requirements.txt); the rest is plain PyPI.
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "pyyaml",
        "tqdm",
        "torch>=2.4",
        "onnx",
        "onnxscript",
        "onnxruntime",
        "openvino",
        "rosbags",
    ],
    extras_require={
        "gui": ["PyQt5"],
        "plots": ["matplotlib"],
        "train": ["cityscapesScripts", "matplotlib", "pillow", "tensorboard"],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "attanet = attanet_cli:main",
            "attanet_node = attanet_ros.node:main",
            "attanet_lifecycle_node = attanet_ros.node.lifecycle_node:main",
        ],
    },
)
