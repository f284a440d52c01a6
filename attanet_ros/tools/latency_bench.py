"""End-to-end latency of the node: camera stamp -> ~/labels received, next to the model's own time.

Not a test: a measurement to report. The node runs in its own process (as deployed, with the
shipped shared-memory DDS profile); this process publishes frames stamped "now", one at a time,
waits for their outputs and records the difference. After each frame the same frame goes through
a ``Segmenter`` in this process (built as the node builds it), so the node's overhead (decode,
resize, encode, publish, DDS) reads as the difference. The two alternate frame by frame: on a
shared or throttled machine a slow spell hits both alike, and the ratio stays fair. Then the same
frames go through a stand-in for the node with no model that publishes the same outputs at the same sizes
(``transport_floor``): what DDS and rclpy alone cost, so the node's own work reads as e2e less that floor
less the Segmenter alone.

    python -m attanet_ros.tools.latency_bench --sizes 512x1024 1024x2048 --frames 20 [--json]
    python -m attanet_ros.tools.latency_bench --soak 600 --sizes 512x1024 --rate 15 --outputs all   (see soak.py)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from attanet_model.cli_args import add_domain_id, add_json, add_model, add_sizes, command_parser, format_size
from attanet_model.engine_options import add_engine_arguments
from attanet_model.preprocess import OUTPUT_SIZES
from attanet_ros.node.node_command import node_command

from .bench_client import CAMERA_TOPIC, bench_client
from .soak import street_frame

PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_shm.xml"
PRIVATE_DOMAIN_ID = 88  # without ROS_DOMAIN_ID or --domain-id: away from a robot's own graph on domain 0


def build_parser() -> argparse.ArgumentParser:
    """Camera stamp -> ~/labels latency of the attanet node over Fast DDS, next to the Segmenter's own time on the same
    frames."""
    parser = command_parser("ros-bench", build_parser.__doc__)
    add_sizes(parser, [(512, 1024), (1024, 2048)], "camera frame sizes")
    parser.add_argument("--frames", type=int, default=20, help="measured frames per size (after 3 warm-up frames)")
    add_model(parser)
    add_engine_arguments(parser)
    parser.add_argument("--outputs", default="labels", help="comma list of outputs to subscribe to (default labels)")
    parser.add_argument(
        "--output-resolution",
        choices=OUTPUT_SIZES,
        default="input",
        help="the node's output_resolution: outputs at the camera's size (input, the node's default) or at the "
        "network's (cheaper: no upsampling, fewer bytes)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the transport floor: the same frames through a stand-in for the node with no model "
        "(python -m attanet_ros.tools.transport_floor), which says what DDS alone costs here",
    )
    add_domain_id(parser, fallback=PRIVATE_DOMAIN_ID)
    add_json(parser, "print the results as JSON")
    soak = parser.add_argument_group("soak (a long run at a fixed camera rate: node memory, outputs per window)")
    soak.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help="run a soak of this length")
    soak.add_argument("--rate", type=float, default=15.0, help="soak: camera rate in Hz (default 15)")
    soak.add_argument("--window", type=float, default=10.0, help="soak: seconds per counting window (default 10)")
    soak.add_argument("--warmup-s", type=float, default=60.0, help="soak: RSS growth is measured from here (60)")
    soak.add_argument("--max-rss-growth-mb", type=float, default=20.0, help="soak: target RSS growth (20 MB)")
    soak.add_argument("--soak-report", type=Path, help="soak: also write the markdown report to this file")
    return parser


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def _outputs(text: str) -> list[str]:
    """``--outputs``: a comma list, or ``all`` for every output the node has."""
    from attanet_ros.node.params import OUTPUTS

    names = [o.strip() for o in text.split(",") if o.strip()]
    return list(OUTPUTS) if names == ["all"] else names


def _node_command(args, outputs: list[str], size: tuple[int, int]) -> list[str]:
    params = {
        "warmup_height": size[0],  # the camera's size: warm-up and auto's decision at the frames to come
        "warmup_width": size[1],
        "backend": args.backend,
        "device": args.device,
        "precision": args.precision,
        "outputs": outputs,
        "output_resolution": args.output_resolution,
    }
    if args.model:
        params["model_path"] = str(args.model)
    return node_command(params=params, remaps={"__ns": "/bench", "image": "/bench/camera"})


def _time_frames(bench, topics: dict[str, str], size, frames: int, desc: str, after_each=None) -> dict:
    """Publish ``frames`` + 3 warm-up frames stamped "now", one at a time; each waits for every output in
    ``topics`` (output name -> topic) before ``after_each(frame, measured)`` and the next. Returns the
    latencies until the last output arrived and until the first one, and at which size each output arrived."""
    from sensor_msgs.msg import Image
    from tqdm import tqdm

    from attanet_ros.common.image_codec import array_to_image_msg

    arrived: dict[int, dict[str, int]] = {}  # stamp -> output -> when it arrived (ns)
    sizes: dict[str, str] = {}  # output -> HxW of what arrived

    def on_output(name, msg):
        arrived.setdefault(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, {})[name] = time.time_ns()
        sizes[name] = f"{msg.height}x{msg.width}"

    client, executor = bench.client, bench.executor
    for name, topic in topics.items():  # every output asked for, as a user would: the node then does that work
        client.create_subscription(Image, topic, lambda m, o=name: on_output(o, m), bench.reliable)
    bench.wait_until_connected(list(topics.values())[:1])
    outputs, first = list(topics), next(iter(topics))
    frame = street_frame(*size)
    latencies, first_output = [], []
    for i in tqdm(range(frames + 3), desc=desc, leave=False):
        msg = array_to_image_msg(Image(), frame, "bgr8")
        stamp = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        msg.header.frame_id = "bench"
        bench.publisher.publish(msg)
        end = time.monotonic() + 60
        while len(arrived.get(stamp, ())) < len(outputs) and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        missing = sorted(set(outputs) - set(arrived.get(stamp, ())))
        if missing:
            raise RuntimeError(f"{desc}: frame {i} got no {', '.join(missing)} within 60 s")
        if i >= 3:  # until the last of the subscribed outputs arrived; and until the first one (labels)
            latencies.append((max(arrived[stamp].values()) - stamp) / 1e6)
            first_output.append((arrived[stamp][first] - stamp) / 1e6)
        if after_each is not None:
            after_each(frame, i >= 3)
    return {"latencies": latencies, "first_output": first_output, "sizes": dict(sizes)}


def measure(size, args, env) -> dict:
    """Start the node, publish frames one at a time, each followed by the Segmenter alone on the same frame;
    return both latencies' percentiles and the node's diagnostics."""
    alone = SegmenterAlone(size, args)
    outputs = _outputs(args.outputs)
    topics = {name: f"/bench/attanet/{name}" for name in outputs}
    with bench_client(_node_command(args, outputs, size), env, args.domain_id, "attanet_latency_bench") as bench:
        timed = _time_frames(
            bench, topics, size, args.frames, f"node and Segmenter {format_size(size)}", after_each=alone.run
        )
        start = len(bench.diagnostics)
        while len(bench.diagnostics) == start:
            bench.executor.spin_once(timeout_sec=0.1)
        values = {kv.key: kv.value for kv in bench.diagnostics[-1].status[0].values}
    latencies, first_output = timed["latencies"], timed["first_output"]
    return {
        "e2e_p50_ms": _pct(latencies, 50),
        "e2e_p95_ms": _pct(latencies, 95),
        "first_output": outputs[0],
        "output_sizes": timed["sizes"],
        "first_output_p50_ms": _pct(first_output, 50),
        "node_stamp_to_publish_p50_ms": float(values.get("latency_p50_ms", "nan")),
        # the node's own split of e2e: stamp -> its callback (DDS in, executor), callback -> last output published
        "arrival_p50_ms": float(values.get("arrival_p50_ms", "nan")),
        "in_node_p50_ms": float(values.get("node_latency_p50_ms", "nan")),
        "node_stages_p50_ms": {
            k[len("stage_") : -len("_p50_ms")]: float(v) for k, v in values.items() if k.startswith("stage_")
        },
        "provider": values.get("provider", ""),
        "node_malloc": values.get("malloc", ""),  # glibc's thresholds in the node (or the user's own setting)
        **alone.report(),
    }


def measure_floor(size, args, env, output_sizes: dict[str, str]) -> dict:
    """The same frames through ``transport_floor``'s stand-in with no model, publishing the outputs the node
    published at the sizes it published them: the transport floor's percentiles."""
    from attanet_ros.node.output_publishing import ENCODINGS

    prefix = "/bench/floor/"  # not the node's topics: nothing of the stopped node is mistaken for the stand-in
    command = [sys.executable, "-m", "attanet_ros.tools.transport_floor", "--camera", CAMERA_TOPIC, "--prefix", prefix]
    for name, hw in output_sizes.items():
        command += ["--output", f"{name}={hw}:{ENCODINGS[name]}"]
    topics = {name: prefix + name for name in output_sizes}
    with bench_client(command, env, args.domain_id, "attanet_floor_bench") as bench:
        timed = _time_frames(bench, topics, size, args.frames, f"transport floor {format_size(size)}")
    return {
        "floor_p50_ms": _pct(timed["latencies"], 50),
        "floor_p95_ms": _pct(timed["latencies"], 95),
        "floor_output_sizes": timed["sizes"],  # the node's, as they arrived from the stand-in
    }


class SegmenterAlone:
    """The node's model stage alone, in this process: a Segmenter built as the node builds it on the CPU
    (outputs at the network size, which the node resizes once at the end; auto deciding at this camera
    size), reading every result the node reads (``confidence`` too when it is among ``--outputs``: it may
    be computed on first read)."""

    SETTLE_S = 0.005  # after each run: this process's runtime threads go idle before the node's next frame

    def __init__(self, size: tuple[int, int], args) -> None:
        from attanet_model import AutoSettings, Segmenter

        self.segmenter = Segmenter(
            args.model or None,
            backend=args.backend,
            device=args.device,
            precision=args.precision,
            output="network" if args.device == "cpu" else "input",
            auto=AutoSettings(frame_hw=tuple(size)),
        )
        self.wants_confidence = "confidence" in _outputs(args.outputs)
        self.totals: list[float] = []
        self.stages: list[dict[str, float]] = []

    def run(self, frame: np.ndarray, measured: bool) -> None:
        started = time.perf_counter()
        result = self.segmenter.segment(frame)
        if self.wants_confidence:
            result.confidence  # noqa: B018 - the read is the work (lazy confidence)
        if measured:
            self.totals.append((time.perf_counter() - started) * 1e3)
            self.stages.append(result.timings_ms)
        time.sleep(self.SETTLE_S)

    def report(self) -> dict:
        return {
            "segmenter_p50_ms": _pct(self.totals, 50),
            "segmenter_p95_ms": _pct(self.totals, 95),
            "segmenter_frames": len(self.totals),  # one per measured node frame, in turn with it
            "segmenter_stages_p50_ms": {k: _pct([s[k] for s in self.stages], 50) for k in self.stages[0]},
            "segmenter_provider": self.segmenter.provider,
        }


def stage_overhead(row: dict) -> dict[str, float]:
    """What the node adds per stage (p50 ms): its model stages minus the same stages alone, its own
    decode and publish, and ``transport``: the e2e rest (DDS both ways, the subscriber's decoding, waits)."""
    node, alone = row["node_stages_p50_ms"], row["segmenter_stages_p50_ms"]
    added = {k: node.get(k, 0.0) - alone.get(k, 0.0) for k in ("preprocess", "inference", "postprocess")}
    added.update(decode=node.get("decode", 0.0), publish=node.get("publish", 0.0))
    added["transport"] = row["e2e_p50_ms"] - sum(node.values())
    return added


def same_engine(node_provider: str, segmenter_provider: str) -> bool:
    """Whether the node and the Segmenter alone ran the same engine (auto's 'chosen'/'cached' note aside)."""
    return node_provider.split(" [auto:")[0] == segmenter_provider.split(" [auto:")[0]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.frames < 1:
        print(f"attanet ros-bench: --frames must be >= 1, got {args.frames}", file=sys.stderr)
        return 2
    if small := [s for s in args.sizes if min(s) < 32]:
        print(f"attanet ros-bench: --sizes {format_size(small[0])} is too small; at least 32x32", file=sys.stderr)
        return 2
    if args.soak:
        problem = _soak_problem(args)
        if problem:
            print(f"attanet ros-bench: {problem}", file=sys.stderr)
            return 2
    env = dict(
        os.environ,
        ROS_DOMAIN_ID=str(args.domain_id),
        FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
    )
    os.environ.update({k: env[k] for k in ("FASTDDS_DEFAULT_PROFILES_FILE", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    if args.soak:
        return _soak(args, env)
    results = []
    for size in args.sizes:
        row = {"size": f"{size[0]}x{size[1]}"}
        try:
            row.update(measure(size, args, env))
            if not args.no_floor:
                row.update(measure_floor(size, args, env, row["output_sizes"]))
        except RuntimeError as exc:
            print(f"attanet ros-bench: {exc}", file=sys.stderr)
            return 1
        if not same_engine(row["provider"], row["segmenter_provider"]):
            print(
                f"attanet ros-bench: the node ran {row['provider']!r} but the Segmenter alone ran "
                f"{row['segmenter_provider']!r}; their times are not comparable (give --backend and --precision)",
                file=sys.stderr,
            )
            return 1
        row["node_over_model"] = row["e2e_p50_ms"] / row["segmenter_p50_ms"]
        row["in_node_over_model"] = row["in_node_p50_ms"] / row["segmenter_p50_ms"]
        row["first_output_over_model"] = row["first_output_p50_ms"] / row["segmenter_p50_ms"]
        # the node's own Segmenter stages ran under the same load as e2e: the fairest overhead figure
        model_ms = sum(row["node_stages_p50_ms"].get(k, 0.0) for k in ("preprocess", "inference", "postprocess"))
        row["node_model_p50_ms"] = model_ms
        row["node_overhead_ms"] = row["e2e_p50_ms"] - model_ms
        row["overhead_by_stage_p50_ms"] = stage_overhead(row)
        if "floor_p50_ms" in row:
            # DDS's part of the overhead, and what the node's own work adds on top of the floor
            row["floor_over_model"] = row["floor_p50_ms"] / row["segmenter_p50_ms"]
            row["beyond_floor_ms"] = row["e2e_p50_ms"] - row["floor_p50_ms"] - row["segmenter_p50_ms"]
            row["beyond_floor_over_model"] = row["beyond_floor_ms"] / row["segmenter_p50_ms"]
        results.append(row)
    if args.json:
        report = {"frames": args.frames, "output_resolution": args.output_resolution, "results": results}
        print(json.dumps(report, indent=2))
    else:
        head = ("frame", "e2e p50", "e2e p95", "model in node", "overhead", "Segmenter alone", "e2e/alone")
        print("{:>10} {:>9} {:>9} {:>14} {:>9} {:>16} {:>10}  node stages p50 (ms)".format(*head))
        for r in results:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["node_stages_p50_ms"].items())
            print(
                f"{r['size']:>10} {r['e2e_p50_ms']:>9.1f} {r['e2e_p95_ms']:>9.1f} {r['node_model_p50_ms']:>14.1f} "
                f"{r['node_overhead_ms']:>9.1f} {r['segmenter_p50_ms']:>16.1f} {r['node_over_model']:>10.2f}  {stages}"
            )
        print("\nwhere e2e goes, p50 ms: stamp -> node callback (DDS in), callback -> last output published (in node),")
        print(
            "the rest (DDS out to this process); the node's p50s include its warm-up frames, so they need not add up:"
        )
        print(
            "{:>10} {:>9} {:>9} {:>9} {:>16} {:>15}".format(
                "frame", "DDS in", "in node", "DDS out", "Segmenter alone", "in node/alone"
            )
        )
        for r in results:
            rest = r["e2e_p50_ms"] - r["arrival_p50_ms"] - r["in_node_p50_ms"]
            print(
                f"{r['size']:>10} {r['arrival_p50_ms']:>9.1f} {r['in_node_p50_ms']:>9.1f} {rest:>9.1f} "
                f"{r['segmenter_p50_ms']:>16.1f} {r['in_node_over_model']:>15.2f}"
            )
        print("\nwhat the node adds to the Segmenter alone, p50 ms per stage (model stages: in node - alone):")
        names = list(results[0]["overhead_by_stage_p50_ms"])
        print("{:>10} ".format("frame") + " ".join(f"{n:>11}" for n in names))
        for r in results:
            added = r["overhead_by_stage_p50_ms"]
            print(f"{r['size']:>10} " + " ".join(f"{added[n]:>11.1f}" for n in names))
        if len(_outputs(args.outputs)) > 1:  # the node publishes each output as it is made, labels first
            for r in results:
                print(
                    f"{r['size']:>10}: {r['first_output']} received {r['first_output_p50_ms']:.1f} ms after the stamp "
                    f"(p50), {r['first_output_over_model']:.2f}x the Segmenter alone"
                )
        if "floor_p50_ms" in results[0]:
            print(
                "\ntransport floor: the same frames and outputs through a stand-in with no model (DDS and rclpy "
                "alone); the node's own = e2e - floor - Segmenter alone:"
            )
            head = ("frame", "floor p50", "floor/alone", "node's own ms", "own/alone")
            print("{:>10} {:>10} {:>12} {:>14} {:>10}".format(*head))
            for r in results:
                print(
                    f"{r['size']:>10} {r['floor_p50_ms']:>10.1f} {r['floor_over_model']:>12.2f} "
                    f"{r['beyond_floor_ms']:>14.1f} {r['beyond_floor_over_model']:>10.2f}"
                )
        where = "the camera's size" if args.output_resolution == "input" else "the network's size"
        print(
            f"engine: {results[0]['provider']}; e2e = camera stamp -> the last of {args.outputs} received; "
            f"outputs at {where} (output_resolution {args.output_resolution}); node malloc: "
            f"{results[0]['node_malloc'] or 'not reported'}"
        )
    return 0


def _soak_problem(args) -> str | None:
    if args.rate <= 0 or args.window <= 0 or args.soak < args.window:
        return (
            f"--soak {args.soak:g} needs --rate > 0 and --window > 0 (got {args.rate:g}, {args.window:g}), "
            "and at least one window"
        )
    if not 0 <= args.warmup_s < args.soak:
        return f"--warmup-s must be in [0, --soak), got {args.warmup_s:g}"
    if args.soak_report is not None and args.soak_report.is_dir():
        return f"--soak-report {args.soak_report} is a folder; give a file name"
    return None


def _soak(args, env: dict[str, str]) -> int:
    from .soak import markdown_report, run_soak

    size = args.sizes[0]  # one camera; the default list starts with 512x1024
    outputs = _outputs(args.outputs)
    try:
        report = run_soak(size, args, env, _node_command(args, outputs, size), outputs)
    except RuntimeError as exc:
        print(f"attanet ros-bench: {exc}", file=sys.stderr)
        return 1
    text = markdown_report(report)
    if args.soak_report is not None:
        args.soak_report.write_text(text)
    print(json.dumps(report, indent=2) if args.json else text)
    if not report["passed"]:
        print("attanet ros-bench: the soak missed its targets (see the report)", file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
