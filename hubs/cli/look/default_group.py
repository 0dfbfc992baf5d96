"""A command group with a default subcommand: `hubs cache 'truck:*'` is `hubs cache keys 'truck:*'`,
while `hubs cache get KEY` is its own subcommand."""

from __future__ import annotations

import click


class DefaultGroup(click.Group):
    def __init__(self, *args: object, default: str, **kwargs: object) -> None:
        super().__init__(*args, invoke_without_command=False, **kwargs)  # type: ignore[arg-type]
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.default, *args]
        return super().parse_args(ctx, args)
