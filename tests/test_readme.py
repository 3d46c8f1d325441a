"""README and CI agree: CI runs exactly the test command that README gives."""

from __future__ import annotations

from conftest import REPO


def _commands(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("python3 -m venv .venv")]


def test_ci_runs_the_test_command_that_readme_gives():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    ci_commands = _commands(ci)
    assert len(ci_commands) == 1, "CI should run exactly one set-up-and-test line"
    assert ci_commands[0] in _commands(readme)
    assert ci_commands[0].endswith("-m pytest --all")  # CI runs everything, the slow and book tests too


def test_readme_has_two_setup_commands_and_explains_data_and_profiles():
    readme = (REPO / "README.md").read_text()
    commands = _commands(readme)
    assert len(commands) == 2  # one runs the main job, one runs the tests
    assert any("jupyter-book build" in c for c in commands)
    for topic in ("FUNDAMENTALML_DATA", "FUNDAMENTALML_PROFILE", "Offline", "smoke", "python -m benchmarks", "python -m fundamentalml reproduce"):
        assert topic in readme, topic
