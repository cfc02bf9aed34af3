"""The README tells the truth about configuration and the two commands."""
from pathlib import Path

from scripts.settings_table import table

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_table_matches_settings():
    readme = (ROOT / "README.md").read_text()
    assert table() in readme, "README configuration table is stale: run `python scripts/settings_table.py`"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## Running it in production")]
    assert "python3 dev.py run" in head and "python3 dev.py test" in head
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


def test_procfile_has_the_four_processes():
    entries = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(entries) == {"release", "web", "worker", "flower"}
    assert "alembic upgrade head" in entries["release"]
    assert "wsgi:app" in entries["web"] and "gunicorn" in entries["web"]
    assert "celery" in entries["worker"] and "-P gevent" in entries["worker"]
    assert "flower" in entries["flower"]
