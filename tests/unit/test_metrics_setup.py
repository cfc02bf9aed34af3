"""Metrics land in the shared directory even when prometheus_client was imported before the app
(as under the `celery` command, which loads Flower's plugin first)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SCRIPT = """
import sys
import prometheus_client  # first, as the celery command does
from metrics import configure_metrics, metrics
from settings import Settings
configure_metrics(Settings(environment="test", prometheus_multiproc_dir=sys.argv[1]))
metrics().jobs.labels("demo", "demo-1", "succeeded").inc()
"""


def test_samples_are_written_to_the_directory_whatever_the_import_order(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, env=env, check=True, timeout=60)
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    text = generate_latest(registry).decode()
    assert 'jobs_total{model="demo-1",provider="demo",status="succeeded"} 1.0' in text
