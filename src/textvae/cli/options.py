"""Command-line options built from the configs' fields (`textvae.options`): a command names the
configs it sets, and gains one option per field, with the field's flag, help, choices and default.

    def train(data: Given, training: Given, out: ...) -> None: ...
    command = with_options(train, [Source("data", config_fields(DataConfig)), ...])

The command receives, for each source, a dict of the values the user gave (field -> value) over
the command's own defaults for that source, and builds its configs from them; what is in neither
takes the config's own default there.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from textvae.options import OptionInfo, field_types, flag_of, option_fields, option_info, scalar_type

Given = dict[str, Any]  # the options of one source the user gave (over the command's defaults): field -> value


def choices(name: str, values: Iterable[str]) -> Any:
    """An Enum of names, for typer's choices (members: the names with - as _)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


@dataclass(frozen=True)
class Spec:
    """One option: a field (or fields of the same name in several registered configs)."""

    key: str  # the field's name
    field: dataclasses.Field
    annotation: Any  # its resolved type
    owners: tuple[tuple[str, OptionInfo, Any], ...] = ()  # (registered name, its info, its default) where merged
    everyone: bool = True  # every registered entry has it (no "applies to" prefix in its help)

    @property
    def info(self) -> OptionInfo:
        return option_info(self.field)

    @property
    def required(self) -> bool:
        return self.field.default is dataclasses.MISSING and self.field.default_factory is dataclasses.MISSING

    def default(self) -> Any:
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return None if self.field.default is dataclasses.MISSING else self.field.default

    def help(self) -> str:
        """The field's help; where it is merged from some registered entries, which ones."""
        texts = {info.text() for _, info, _ in self.owners}
        if not self.owners or self.everyone and len(texts) == 1:
            return self.info.text()
        if len(texts) == 1:
            return f"{_names(name for name, _, _ in self.owners)}: {texts.pop()}"
        return "; ".join(f"{name}: {info.text().rstrip('.')}" for name, info, _ in self.owners) + "."


def _names(owners: Iterable[str]) -> str:
    """"encoder lstm", "encoder gru", "decoder cnn" -> "encoders lstm, gru; decoder cnn"."""
    groups: dict[str, list[str]] = {}
    for owner in owners:
        role, _, name = owner.rpartition(" ")
        groups.setdefault(role, []).append(name)
    return "; ".join(f"{role}{'s' if role and len(names) > 1 else ''} {', '.join(names)}".strip()
                     for role, names in groups.items())


def config_fields(config: type, exclude: Sequence[str] = ()) -> Callable[[], list[Spec]]:
    """The option fields of one config class."""

    def specs() -> list[Spec]:
        types = field_types(config)
        return [Spec(f.name, f, types[f.name]) for f in option_fields(config) if f.name not in exclude]

    return specs


def registered_fields(found: Callable[[], Mapping[str, list[tuple[str, dataclasses.Field]]]],
                      entries: Callable[[], int], owner_class: Callable[[str], type]) -> Callable[[], list[Spec]]:
    """The option fields of every registered entry (objectives, encoder and decoder kinds), one
    option per name: `found()` maps a field name to its (entry, field) pairs; `owner_class(entry)`
    is the entry's options class, to resolve the field's type."""

    def specs() -> list[Spec]:
        merged = []
        for key, owners in found().items():
            first = owners[0][1]
            annotation = field_types(owner_class(owners[0][0]))[key]
            described = tuple((name, option_info(f), Spec(key, f, annotation).default()) for name, f in owners)
            merged.append(Spec(key, first, annotation, described, everyone=len(owners) == entries()))
        return merged

    return specs


@dataclass(frozen=True)
class Source:
    """The options one command takes from one config: passed to the command as `name` (a Given)."""

    name: str
    specs: Callable[[], list[Spec]]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # this command's own defaults (and --help's)
    shown: Mapping[str, str] = field(default_factory=dict)  # how --help shows a default, for this command
    optional: Sequence[str] = ()  # fields the config needs that this command may do without


def _cli_type(spec: Spec) -> tuple[Any, Callable[[Any], Any]]:
    """The type typer parses the option as, and how its value becomes the field's value."""
    scalar, _, is_list = scalar_type(spec.annotation)
    names = spec.info.names()
    if is_list:
        def parse_list(text: str) -> list[Any]:
            items = [item.strip() for item in text.split(",") if item.strip()]
            try:
                values = [scalar(item) for item in items]
            except ValueError:
                raise typer.BadParameter(f"{flag_of(spec.field)} takes comma-separated values of type "
                                         f"{scalar.__name__}, got {text!r}") from None
            return values
        return str, parse_list
    if names:
        return choices(spec.key.title().replace("_", ""), names), lambda member: member.value
    return scalar, lambda value: value


def _default_text(spec: Spec, source: Source) -> str | bool:
    if spec.key in source.shown:
        return source.shown[spec.key]
    if spec.key in source.defaults:
        value = source.defaults[spec.key]
    elif spec.info.default_text is not None:
        return spec.info.default_text
    elif spec.owners and len({repr(d) for _, _, d in spec.owners}) > 1:
        return ", ".join(f"{d} for {name}" for name, _, d in spec.owners if d is not None) or False
    else:
        value = spec.default()
    if value is None:
        return False
    if isinstance(value, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parameter(spec: Spec, source: Source) -> tuple[inspect.Parameter, tuple[str, ...], Callable[[Any], Any]]:
    cli_type, convert = _cli_type(spec)
    info = spec.info
    flags = info.flags or (flag_of(spec.field),)
    if cli_type is bool:
        flags = tuple(f"{flag}/--no-{flag[2:]}" for flag in flags[:1]) + tuple(flags[1:])
    required = spec.required and spec.key not in source.optional and spec.key not in source.defaults
    shown = False if required else _default_text(spec, source)
    help_text = spec.help() + (f"  [default: {shown}]" if shown else "")
    option = typer.Option(*flags, help=help_text, show_default=False)
    annotation = Annotated[cli_type if required else Optional[cli_type], option]
    parameter = inspect.Parameter(f"{source.name}__{spec.key}", inspect.Parameter.KEYWORD_ONLY,
                                  default=... if required else None, annotation=annotation)
    return parameter, flags, convert


def with_options(function: Callable[..., Any], sources: Sequence[Source]) -> Callable[..., Any]:
    """`function` with one more keyword parameter per option of `sources`; it is called with, for
    each source, the dict of values the user gave (over the source's defaults) under its name."""
    hints = typing.get_type_hints(function, include_extras=True)
    own = [parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
           for parameter in inspect.signature(function).parameters.values()
           if parameter.name not in {s.name for s in sources}]
    added: list[tuple[Source, str, str, Callable[[Any], Any]]] = []
    parameters, flags, specs = list(own), set(), {}
    for source in sources:
        for spec in source.specs():
            parameter, declared, convert = _parameter(spec, source)
            specs[parameter.name] = spec
            clash = flags & set(declared)
            if clash:
                raise ValueError(f"{function.__name__}: option {sorted(clash)} is declared twice")
            flags |= set(declared)
            parameters.append(parameter)
            added.append((source, spec.key, parameter.name, convert))

    def command(**kwargs: Any) -> Any:
        given: dict[str, Given] = {source.name: dict(source.defaults) for source in sources}
        for source, key, name, convert in added:
            value = kwargs.pop(name)
            if value is not None:
                given[source.name][key] = convert(value)
        return function(**kwargs, **given)

    command.__name__, command.__doc__ = function.__name__, function.__doc__
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.option_specs = specs  # type: ignore[attr-defined] - what each added option sets (for tests, tools)
    return command
