"""The README stays true to the code: its variables, its commands."""

from __future__ import annotations

import re

from click.testing import CliRunner

from hubs.cli import main
from hubs.settings import ENVIRONMENT, PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_every_environment_variable_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `((?:HUBS|OPENAI)_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    assert documented == {name for name, _ in ENVIRONMENT}


def test_quick_start_commands_are_the_ones_ci_runs() -> None:
    assert "pip install -e '.[dev]' && hubs demo" in README
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]'" in ci
    assert re.search(r"^pytest\b", ci, re.MULTILINE)


def test_every_documented_command_exists() -> None:
    commands = set(re.findall(r"`hubs ([a-z]+)", README))
    assert commands <= set(main.commands), commands - set(main.commands)
    for name in commands:
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0
