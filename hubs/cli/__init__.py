"""`hubs`: the platform's command line (servers, data in, the demo, a look inside every store).

Each module adds its commands to the one group, `main` (the `hubs` entry point)."""

from hubs.cli import data, look, migrate, scaffold, serve, servers  # noqa: F401 - registers the commands
from hubs.cli.app import main

__all__ = ["main"]
