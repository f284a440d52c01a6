"""The `attanet` dispatcher and the model subcommands, run as a user runs them."""

import json
import subprocess
import sys

import pytest
import torch


def attanet(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "attanet_cli", *args], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"attanet {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def test_help_lists_every_subcommand():
    out = attanet("--help").stdout
    for name in (
        "info",
        "train",
        "eval",
        "predict",
        "export",
        "bench",
        "synth",
        "bag-make",
        "bag-eval",
        "viewer",
        "demo",
    ):
        assert f"  {name} " in out


def test_unknown_subcommand_is_a_usage_error():
    proc = attanet("frobnicate", check=False)
    assert proc.returncode == 2 and "unknown command 'frobnicate'" in proc.stderr


def test_info_json_reproduces_table3_and_does_not_load_ros_or_qt():
    code = (
        "import sys, attanet_cli; attanet_cli.main(['info', '--json']); "
        "print(json.dumps(sorted(m for m in ('rclpy', 'PyQt5') if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    info_line, loaded = proc.stdout.strip().splitlines()
    info = json.loads(info_line)
    assert json.loads(loaded) == []
    assert info["arch"] == "attanet_r18"
    assert info["params"]["total"] == pytest.approx(12.6e6, rel=0.01)
    assert set(info["gmacs"]) >= {"total", "backbone", "afm", "sam", "head"}
    assert info["gmacs"]["sam"] == pytest.approx(0.185, abs=0.0015)
    assert info["gmacs"]["afm"] == pytest.approx(0.336, abs=0.0015)


def test_export_reports_a_bad_checkpoint_in_one_line(tmp_path):
    (tmp_path / "bad.pt").write_text("nope")
    proc = attanet("export", "--model", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "m.onnx"), check=False)
    assert proc.returncode == 2
    assert "is not a checkpoint" in proc.stderr and "Traceback" not in proc.stderr


def test_export_and_bench_the_bundled_model(tmp_path):
    out = tmp_path / "m.onnx"
    summary = json.loads(attanet("export", "--out", str(out), "--argmax", "--json").stdout)
    assert out.is_file() and summary["argmax"] is True
    rows = [
        json.loads(line)
        for line in attanet(
            "bench",
            "--arch",
            "attanet_light",
            "--backends",
            "torch,onnxruntime,onnxruntime-int8",
            "--size",
            "64x128",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--json",
        ).stdout.splitlines()
    ]
    backends = [(r["backend"], r["precision"]) for r in rows]
    assert backends == [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime-int8", "fp32")]
    for r in rows:
        assert set(r) >= {
            "backend",
            "device",
            "precision",
            "height",
            "width",
            "batch",
            "latency_ms_median",
            "fps",
            "e2e_ms_median",
        }
        assert r["latency_ms_median"] > 0 and r["fps"] == pytest.approx(1000 / r["latency_ms_median"], rel=0.01)
        assert r["e2e_ms_median"] > 0


def test_bench_rejects_fp16_on_cpu():
    proc = attanet("bench", "--precision", "fp16", check=False)
    assert proc.returncode == 2 and "precision 'fp16' on the CPU is not supported by torch kernels" in proc.stderr


def test_gpu_suite_needs_cuda_and_says_so():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: bench/run_gpu.sh runs the real suite")
    proc = attanet("bench", "--suite", "gpu", "--time-limit", "5", check=False)
    assert proc.returncode == 2 and "the GPU suite needs a CUDA GPU" in proc.stderr


def test_suite_steps_survive_failures_respect_the_time_limit_and_checkpoint():
    import time

    from attanet_bench.latency import BenchRow
    from attanet_bench.suite import run_suite_steps

    def row(ms):
        return BenchRow("attanet_r18", "torch+graphs", "cuda", "fp16", 512, 1024, 1, ms, 1e3 / ms, None)

    def broken():
        raise RuntimeError("CUDA graph capture failed")

    def slow():
        time.sleep(0.3)
        return [row(2.0)]

    rows, notes, messages, snapshots = [], [], [], []
    steps = [("fast", lambda: [row(1.0)]), ("broken", broken), ("slow", slow), ("late", lambda: [row(3.0)])]
    run_suite_steps(
        steps,
        rows,
        notes,
        messages.append,
        time.perf_counter(),
        time_limit_s=0.2,
        checkpointed=lambda r, n: snapshots.append((len(r), len(n))),
    )
    assert [r.latency_ms_median for r in rows] == [1.0, 2.0]  # 'late' started after the limit
    assert notes == [
        "step 'broken' failed: RuntimeError: CUDA graph capture failed",
        "step 'late' skipped: the suite's time limit of 0.2 s had passed",
    ]
    assert snapshots == [(1, 0), (1, 1), (2, 1)]  # after each step that ran, the table so far
    assert any(m.startswith("row ") and '"latency_ms_median": 2.0' in m for m in messages)


MODEL_COMMANDS = [
    ["export", "--model", "{model}", "--out", "{tmp}/m.onnx"],
    ["eval", "--model", "{model}", "--data-root", "{tmp}"],
    ["predict", "--model", "{model}", "--input", "{tmp}", "--out", "{tmp}/pred"],
    ["bench", "--model", "{model}", "--backends", "torch"],
    ["bag-eval", "{tmp}/bag", "--model", "{model}"],
    ["viewer", "--source", "{tmp}", "--model", "{model}", "--screenshot", "{tmp}/shot.png"],
]


def _run_on_model(command: list[str], model, tmp_path, capsys, monkeypatch) -> tuple[int, str]:
    """Run ``attanet <command>`` in this process on ``model``; (exit code, stderr)."""
    from attanet_cli import main

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # the viewer would set it for this whole process
    if command[0] == "bag-eval":  # a real bag, so that only the model can be what is refused
        from attanet_ros.bags.storage import BagWriter, image_msg

        with BagWriter(tmp_path / "bag") as writer:
            for topic in ("/camera/image_raw", "/camera/gt_labels"):
                writer.write(topic, 1, image_msg(torch.zeros(8, 8, dtype=torch.uint8).numpy(), "mono8", 1, "cam"))
    code = main([a.format(model=model, tmp=tmp_path) for a in command])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", MODEL_COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_a_damaged_checkpoint_with_exit_2(tmp_path, capsys, monkeypatch, command):
    """Bytes flipped inside a tensor record: the zip opens and torch.load reads it, yet no command runs on it."""
    import shutil

    from damaged_files import flip_tensor_bytes

    from attanet_model import default_model_path

    model = tmp_path / "damaged.pt"
    shutil.copy(default_model_path(), model)
    member = flip_tensor_bytes(model)
    code, err = _run_on_model(command, model, tmp_path, capsys, monkeypatch)
    assert code == 2, err
    assert f"{model} is corrupt: archive member '{member}' fails its CRC-32 check" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", MODEL_COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_nan_weights_with_a_valid_hash_with_exit_2(tmp_path, capsys, monkeypatch, command):
    """A diverged model saved normally: it loaded everywhere, every pixel 'road', confidence NaN."""
    from attanet_model import default_model_path, load_checkpoint, save_checkpoint

    model, meta, _ = load_checkpoint(default_model_path())
    with torch.no_grad():
        model.head[2].weight[3, 0, 0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "diverged.pt", model, meta)
    code, err = _run_on_model(command, path, tmp_path, capsys, monkeypatch)
    assert code == 2, err
    assert f"model file {path} has unusable weights: head.2.weight holds 1 NaN value" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
