"""Registries: the named implementations of one contract (objectives, encoders, decoders,
experiments), so that an extension is a new class and its registration, with no if-chain to edit.

    OBJECTIVES = Registry[type[ObjectiveOptions]]("objective")

    @OBJECTIVES.register("beta-c")
    class BetaCOptions(ObjectiveOptions): ...

Everything that offers a choice among them (the command line's choices and help, config checks)
reads the registry when asked, so an entry registered later is offered too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from textvae.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # what an entry is, for messages: "objective", "decoder"
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that registers its argument under `name` and returns it unchanged."""

        def add(entry: T) -> T:
            if self._entries.get(name, entry) is not entry:
                raise ValueError(f"a {self.kind} named {name!r} is registered already")
            self._entries[name] = entry
            return entry

        return add

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose from {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
