"""Smoke test of the benchmark suite: ``python -m bench --quick`` on a few cheap cells.

It runs the real command in a subprocess, with only the implementations
that need nothing beyond this package (ours and the raw TCP echo), so it
runs wherever the tests do; it checks that every cell produced a positive
rate, that the report files exist, and that no benchmark process outlived
the run. The suite itself needs Linux (CPU pinning, epoll, /proc).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"),
        reason="the benchmark suite pins CPUs and reads /proc: Linux only",
    ),
    pytest.mark.skipif(
        not (ROOT / "bench" / "__main__.py").exists(),
        reason="bench/ is not in this tree (installed package, no checkout)",
    ),
]


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker.encode() in environ.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.timeout(240)
def test_quick_run(tmp_path: Path) -> None:
    marker = f"BENCH_SMOKE_TEST={uuid.uuid4().hex}"
    env = dict(os.environ)
    name, _, value = marker.partition("=")
    env[name] = value
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--only",
        "pair,server,idle",
        "--impl",
        "ours-sync,raw",
        "--sizes",
        "16,65536",
        "--idle-connections",
        "50",
        "--output",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=200, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

    results = json.loads((tmp_path / "partial.json").read_text())
    assert list(results["scenarios"]) == ["pair", "server", "idle"]
    for name in ("pair", "server"):
        table = results["scenarios"][name]
        assert {row["implementation"] for row in table["rows"]} == {"ours-sync", "raw"}
        for row in table["rows"]:
            assert "error" not in row, row
            for column in ("16 B", "64 KiB"):
                assert row["cells"][column]["median"] > 0
    (idle,) = results["scenarios"]["idle"]["rows"]
    assert idle["cells"]["connections"]["median"] == 50
    assert idle["cells"]["threads/conn"]["median"] <= 2
    assert "Pairs" in result.stdout and "Targets" in result.stdout
    assert (tmp_path / "partial.md").exists()
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "partial.png").stat().st_size > 0
    assert _processes_with(marker) == []
