"""No source file past 500 lines without a reason: a file that long usually holds two concerns.

A file may stay longer when one of its first 5 lines is a comment ``# size: <why>`` (one line, the
reason said). Test code is not counted. The files are the ones git tracks or would track (not
ignored), so a virtual environment or build output never counts; without git, every .py file
outside the ignored folders.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 500
REASON_PREFIX = "# size:"
REASON_WITHIN = 5  # the reason is one of a file's first lines
IGNORED_DIRS = {".venv", "build", "install", "log", "runs", "out", "demo_out", "__pycache__", ".git", "tests"}


def is_test_code(path: Path) -> bool:
    return "tests" in path.parts or path.name.startswith("test_") or path.name == "conftest.py"


def source_files(root: Path) -> list[Path]:
    """The project's .py files (relative to ``root``), test code left out."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        files = [Path(p) for p in listed if p and (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        files = [
            p.relative_to(root)
            for p in root.rglob("*.py")
            if not IGNORED_DIRS & set(p.relative_to(root).parts[:-1]) and not p.parent.name.endswith(".egg-info")
        ]
    return sorted(p for p in files if not is_test_code(p))


def size_reason(lines: list[str]) -> str | None:
    """The reason given in a ``# size: <why>`` line among the first lines (None: none given)."""
    for line in lines[:REASON_WITHIN]:
        text = line.strip()
        if text.startswith(REASON_PREFIX) and text[len(REASON_PREFIX) :].strip():
            return text[len(REASON_PREFIX) :].strip()
    return None


def oversized(root: Path, files: list[Path]) -> list[str]:
    """One message per file over MAX_LINES lines without a reason, naming it and its line count."""
    problems = []
    for rel in files:
        lines = (root / rel).read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) > MAX_LINES and size_reason(lines) is None:
            problems.append(
                f"{rel.as_posix()}: {len(lines)} lines (over {MAX_LINES}); split its concerns apart, or give "
                f"a one-line reason '{REASON_PREFIX} <why>' in its first {REASON_WITHIN} lines"
            )
    return problems


def test_no_source_file_is_over_500_lines_without_a_reason():
    files = source_files(REPO)
    assert len(files) > 50, f"only {len(files)} source files found under {REPO}: the listing is wrong"
    problems = oversized(REPO, files)
    assert not problems, "\n".join(problems)


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("head", "count", "flagged"),
    [
        ([], MAX_LINES, False),  # exactly at the limit
        ([], MAX_LINES + 1, True),
        (['"""Doc."""', "# size: one table of 600 constants, read as one"], 600, False),
        (["# size:"], 600, True),  # a reason line must say the reason
        (["a = 1"] * REASON_WITHIN + ["# size: too late to count"], 600, True),
    ],
)
def test_the_check_names_each_long_file_without_a_reason(tmp_path, head, count, flagged):
    rel = Path("pkg") / "module.py"
    _write(tmp_path / rel, head + ["x = 0"] * (count - len(head)))
    problems = oversized(tmp_path, [rel])
    if flagged:
        assert len(problems) == 1 and problems[0].startswith(f"pkg/module.py: {count} lines (over {MAX_LINES})")
    else:
        assert problems == []


@pytest.mark.parametrize("checkout", [True, False], ids=["git", "no-git"])
def test_test_code_and_ignored_folders_are_not_counted(tmp_path, checkout):
    long = ["x = 0"] * (MAX_LINES + 10)
    _write(tmp_path / "tests" / "test_big.py", long)
    _write(tmp_path / "pkg" / "conftest.py", long)
    _write(tmp_path / ".venv" / "lib" / "site.py", long)
    _write(tmp_path / "pkg" / "big.py", long)
    if checkout:
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        (tmp_path / ".gitignore").write_text(".venv/\n")
    assert source_files(tmp_path) == [Path("pkg/big.py")]
    assert oversized(tmp_path, source_files(tmp_path)) == [
        f"pkg/big.py: {MAX_LINES + 10} lines (over {MAX_LINES}); split its concerns apart, or give a one-line "
        f"reason '{REASON_PREFIX} <why>' in its first {REASON_WITHIN} lines"
    ]
