"""Build vision_msgs/LabelInfo (and VisionClass) against the pip ROS 2 wheels and install it as a local wheel.

vision_msgs is not on PyPI; Nav2's semantic segmentation layer reads the node's ``~/label_info``
(vision_msgs/LabelInfo). ``make install`` runs this with the venv's python:

    python scripts/build_vision_msgs.py [--force]

- The two upstream interface files (attanet_ros/interfaces/vision_msgs/msg, Apache-2.0, see NOTICE
  there) are built with CMake + the pip ament_cmake / rosidl generators; no colcon, no ROS install.
- Installed into the venv's own prefix (the wheels' bootstrap finds libraries under sys.prefix/lib)
  through a staged install packed as a local wheel named ``attanet-local-vision-msgs``: pip installs it
  offline, replaces it cleanly on a rebuild and ``pip uninstall`` removes every file.
- Idempotent: a stamp of the interface files, the build files, the python ABI and the installed
  ROS wheels' versions; nothing is built while it matches and the wheel is installed.
- No C++ compiler, CMake >= 3.21 or Python headers: one line says what is missing and what it costs,
  and the exit status is 0 (the node runs without ~/label_info and says so at start-up).
Exit status 1 when a build that could run failed (its log is named).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# package.xml + CMakeLists.txt (ours) and the upstream interface files (shipped in attanet_ros for the bag tools)
BUILD_FILES = HERE / "build_vision_msgs" / "vision_msgs"
MSG_DIR = REPO / "attanet_ros" / "interfaces" / "vision_msgs" / "msg"
# A project-specific name: a future PyPI `vision-msgs` / `ros-kilted-vision-msgs` cannot replace it.
DIST = "attanet-local-vision-msgs"
VERSION = "4.1.1"  # the upstream release the interface files come from
MIN_CMAKE = (3, 21)
COST = "no ~/label_info (vision_msgs/LabelInfo) for Nav2's semantic segmentation layer; ~/class_info JSON is kept"


def missing_tools() -> list[str]:
    """What the build needs and this machine lacks, in words."""
    missing = []
    cmake = shutil.which("cmake")
    if cmake is None:
        missing.append("cmake (>= 3.21)")
    else:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout
        found = re.search(r"(\d+)\.(\d+)", out)
        if found is None or tuple(map(int, found.groups())) < MIN_CMAKE:
            missing.append(f"cmake >= 3.21 (found {found.group(0) if found else 'an unreadable version'})")
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")):
        missing.append("a C compiler (gcc)")
    if not (shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")):
        missing.append("a C++ compiler (g++)")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        missing.append(
            f"Python headers (Python.h, e.g. the python{sys.version_info[0]}.{sys.version_info[1]}-dev package)"
        )
    return missing


def ros_versions() -> list[str]:
    """The installed ROS wheels (ros-kilted-*, ros-*) and catkin_pkg with their versions: the built libraries
    link them by soname, so a change of any of them means a rebuild."""
    names = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("ros-") or name in ("catkin-pkg", "catkin_pkg"):
            names.append(f"{name}=={dist.version}")
    return sorted(set(names))


def source_files() -> dict[str, Path]:
    """The CMake project's files by their path inside it."""
    files = {p.name: p for p in BUILD_FILES.iterdir() if p.is_file()}
    files.update({f"msg/{p.name}": p for p in MSG_DIR.glob("*.msg")})
    return files


def stage_source(work: Path) -> Path:
    """The CMake project assembled under ``work/src`` (copied only when changed: no needless rebuilds)."""
    src = work / "src"
    for name, path in source_files().items():
        target = src / name
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return src


def stamp_text() -> str:
    digest = hashlib.sha256()
    for name, path in sorted(source_files().items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    lines = [f"sources sha256 {digest.hexdigest()}", f"python {sysconfig.get_config_var('SOABI')}", *ros_versions()]
    return "\n".join(lines) + "\n"


def installed_version() -> str | None:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_logged(cmd: list[str], log: Path, env: dict[str, str]) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=True)


def build(work: Path, prefix: Path) -> Path:
    """Configure, build and stage-install into ``work/stage``; returns the staged prefix."""
    build_dir, stage = work / "build", work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text("")
    env = dict(os.environ)
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # the venv's python and ament tools
    src = stage_source(work)
    cache = build_dir / "CMakeCache.txt"
    if cache.is_file() and f"CMAKE_HOME_DIRECTORY:INTERNAL={src}\n" not in cache.read_text():
        shutil.rmtree(build_dir)  # configured from another source folder (e.g. the work folder moved)
    generator = ["-G", "Ninja"] if shutil.which("ninja") and not (build_dir / "Makefile").exists() else []
    configure = ["cmake", "-S", str(src), "-B", str(build_dir), *generator]
    configure += [
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    try:
        run_logged(configure, log, env)
        run_logged(["cmake", "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)], log, env)
        env_install = {**env, "DESTDIR": str(stage)}
        run_logged(["cmake", "--install", str(build_dir)], log, env_install)
    except subprocess.CalledProcessError as exc:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise SystemExit(
            f"{tail}\nbuild_vision_msgs: `{' '.join(exc.cmd[:3])} ...` failed; the full log: {log}"
        ) from None
    return stage / prefix.relative_to(prefix.anchor)


def pack_wheel(staged: Path, prefix: Path, out_dir: Path) -> Path:
    """The staged install as a wheel: site-packages content at the root, the rest (lib/*.so, share/,
    include/) under ``<name>.data/data/`` so pip puts it back under the venv's prefix."""
    purelib = Path(sysconfig.get_paths()["purelib"]).relative_to(prefix)
    dist_name = DIST.replace("-", "_")
    data_dir, info_dir = f"{dist_name}-{VERSION}.data/data", f"{dist_name}-{VERSION}.dist-info"
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    wheel = out_dir / f"{dist_name}-{VERSION}-{tag}-{tag}-{platform}.whl"
    entries: list[tuple[str, bytes]] = []
    for path in sorted(p for p in staged.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(staged)
        if relative.parts[: len(purelib.parts)] == purelib.parts:
            name = Path(*relative.parts[len(purelib.parts) :]).as_posix()
            if ".egg-info" in name:  # cmake's egg-info: pip's own dist-info describes the package
                continue
        else:
            name = f"{data_dir}/{relative.as_posix()}"
        entries.append((name, path.read_bytes()))
    metadata = (
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n"
        "Summary: vision_msgs LabelInfo and VisionClass (ros-perception/vision_msgs), built locally by attanet_ros\n"
        "License: Apache-2.0\n"
    )
    entries.append((f"{info_dir}/METADATA", metadata.encode()))
    wheel_meta = "Wheel-Version: 1.0\nGenerator: attanet_ros build_vision_msgs\nRoot-Is-Purelib: false\n"
    wheel_meta += f"Tag: {tag}-{tag}-{platform}\n"
    entries.append((f"{info_dir}/WHEEL", wheel_meta.encode()))
    record = []
    for name, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info_dir}/RECORD,,")
    entries.append((f"{info_dir}/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") or "/bin/" in name else 0o644) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "vision_msgs", help="build folder")
    args = parser.parse_args(argv)
    if sys.prefix == sys.base_prefix:
        print("build_vision_msgs: run it with the venv's python (.venv/bin/python), not a system one", file=sys.stderr)
        return 2
    prefix = Path(sys.prefix)
    stamp_file = prefix / ".vision_msgs-stamp"
    stamp = stamp_text()
    if not args.force and installed_version() == VERSION and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return 0
    missing = missing_tools()
    if missing:
        print(f"build_vision_msgs: not built, missing {', '.join(missing)}: {COST}.")
        return 0
    print(f"build_vision_msgs: building vision_msgs/LabelInfo against the pip ROS 2 wheels in {args.work} ...")
    staged = build(args.work, prefix)
    wheel = pack_wheel(staged, prefix, args.work / "dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index", "--no-deps"]
        + ["--force-reinstall", str(wheel)],
        check=True,
    )
    stamp_file.write_text(stamp)
    print(f"build_vision_msgs: installed {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
