"""A click group whose subcommands are imported when first used.

``freightliner-policy policy build`` needs about half of what importing every
subcommand's module costs (httpx, the runner, the registry client, the legacy
translator: about 0.2 s of a build's serial start). A :class:`LazyGroup` knows
some subcommands only by name and ``module:attribute``; resolving a command
imports that module alone. Everything that asks for all of them (``--help``,
shell completion, a misspelt command's suggestions, :attr:`LazyGroup.commands`)
imports them all, in the order they were registered, so the command tree, its
help and its errors are what eager registration gives. A broken import still
fails loudly: the first use of the command (or of ``--help``) raises it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any

import click
from click.core import _check_nested_chain

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A :class:`click.Group` with subcommands registered by name and import path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loaded: dict[str, click.Command] = {}
        self._lazy: dict[str, str] = {}
        self._order: list[str] = []  # every name, in the order registered
        self._hooks: list[Callable[[click.Command], None]] = []
        super().__init__(*args, **kwargs)

    # click.Group keeps its subcommands in ``self.commands``; here that is every one of
    # them (imported on access), while click's own lookups go through get_command.
    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        for name in list(self._order):
            if name in self._lazy:
                self._load(name)
        return {name: self._loaded[name] for name in self._order}

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._loaded, self._lazy, self._order = {}, {}, []
        for name, command in value.items():
            self.add_command(command, name)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        _check_nested_chain(self, name, cmd, register=True)  # what click.Group checks
        self._lazy.pop(name, None)
        if name not in self._order:
            self._order.append(name)
        self._loaded[name] = cmd
        for hook in self._hooks:
            hook(cmd)

    def add_lazy_command(self, name: str, target: str) -> None:
        """Register ``module:attribute`` (a click command) as subcommand ``name``; the
        command's own name must be ``name`` unless the attribute is a group mounted
        under another name (as ``migrate``)."""
        if ":" not in target:
            raise ValueError(f"{target!r} is not module:attribute")
        self._loaded.pop(name, None)
        if name not in self._order:
            self._order.append(name)
        self._lazy[name] = target

    def on_load(self, hook: Callable[[click.Command], None]) -> None:
        """Call ``hook`` with each subcommand added or imported from now on."""
        self._hooks.append(hook)

    def loaded_commands(self) -> dict[str, click.Command]:
        """The subcommands imported so far (nothing is imported)."""
        return {name: self._loaded[name] for name in self._order if name in self._loaded}

    def _load(self, name: str) -> click.Command:
        module_name, attribute = self._lazy[name].split(":", 1)
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self._lazy[name]} is not a click command")
        self.add_command(command, name)
        return command

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            return self._load(cmd_name)
        return self._loaded.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._order)
