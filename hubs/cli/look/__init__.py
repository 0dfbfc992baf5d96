"""Look inside every store with nothing else installed: `hubs sql`, `hubs cypher`, `hubs cache`,
`hubs vectors`. Each reads by default, never starts a server (it says `hubs up` instead), and
fails in one line that names the store, never with a traceback or a secret."""

from hubs.cli.look import cache, graph, sql, vectors  # noqa: F401 - registers the commands
