"""Options declared once: a config field carries its command-line flag, help, range and choices.

A config is a dataclass; a field made with `option(...)` is a setting a user may give. Its
metadata is everything the command line needs to offer it (`textvae.cli.options` builds the
flags from it, so a new field is a new flag with no edit in the CLI), and `check_options`
enforces its type, range and choices wherever the config is built: from the command line, from
Python, or from a saved config.json. A field made with plain `dataclasses.field` (or none) is
internal: no flag, no check.

    @dataclass
    class Sizes:
        hidden_dim: int = option(512, "Recurrent state size.", min=1)
        dropout: float = option(0.1, "Dropout after each layer.", min=0, max=1, max_open=True)
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from textvae.errors import ConfigError

MAX_SEED = 2**32 - 1  # every seed textvae takes (numpy's legacy generators, which probes use, stop there)
OPTION = "textvae.option"  # the key of a field's metadata that holds its `OptionInfo`
Choices = Sequence[str] | Callable[[], Sequence[str]]  # names, or where to read them when asked (a registry)


@dataclass(frozen=True)
class OptionInfo:
    """What the command line offers for one config field, and what a value must be."""

    help: str | Callable[[], str]  # or where to read it when asked (a list of registered kinds)
    flags: tuple[str, ...] = ()  # the command line's names for it; () means --FIELD-NAME
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # the bound itself is excluded (a learning rate > 0)
    max_open: bool = False
    choices: Choices | None = None
    default_text: str | None = None  # how --help shows the default, where the value alone would mislead

    def text(self) -> str:
        return self.help() if callable(self.help) else self.help

    def names(self) -> tuple[str, ...]:
        return tuple(self.choices() if callable(self.choices) else self.choices or ())

    def requirement(self, integer: bool = False) -> str | None:
        """The range in words, e.g. "positive", "at least 0", "in (0, 1]"; None where there is none."""
        low, high = self.min, self.max
        if low is None and high is None:
            return None
        if high is None:
            if (low == 0 and self.min_open) or (integer and low == 1 and not self.min_open):
                return "positive"
            return f"{'above' if self.min_open else 'at least'} {low:g}"
        if low is None:
            return f"{'below' if self.max_open else 'at most'} {high:g}"
        return f"in {'(' if self.min_open else '['}{low:g}, {high:g}{')' if self.max_open else ']'}"


def option(default: Any = dataclasses.MISSING, help: str | Callable[[], str] = "", *, flags: Sequence[str] = (),
           min: float | None = None, max: float | None = None, min_open: bool = False, max_open: bool = False,
           choices: Choices | None = None, default_text: str | None = None,
           default_factory: Callable[[], Any] | Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is a user's setting (see the module's docstring)."""
    info = OptionInfo(help, tuple(flags), min, max, min_open, max_open, choices, default_text)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={OPTION: info})


def option_info(field: dataclasses.Field) -> OptionInfo | None:
    return field.metadata.get(OPTION)


def flag_of(field: dataclasses.Field) -> str:
    """The field's first command-line name: its declared flag, or --FIELD-NAME."""
    info = option_info(field)
    return info.flags[0] if info is not None and info.flags else "--" + field.name.replace("_", "-")


def option_fields(config: type | Any) -> list[dataclasses.Field]:
    """The fields of a config class (or instance) that are user settings, in declaration order."""
    return [f for f in dataclasses.fields(config) if option_info(f) is not None]


def field_types(config: type | Any) -> dict[str, Any]:
    """The resolved type of each field (configs use `from __future__ import annotations`)."""
    cls = config if isinstance(config, type) else type(config)
    return typing.get_type_hints(cls)


def scalar_type(annotation: Any) -> tuple[type, bool, bool]:
    """(the scalar type, whether None is allowed, whether it is a list of them) of a field's type,
    e.g. `int | None` -> (int, True, False), `list[float]` -> (float, False, True)."""
    optional, is_list = False, False
    args = typing.get_args(annotation)
    if args and type(None) in args:
        optional = True
        (annotation,) = [a for a in args if a is not type(None)]
    if typing.get_origin(annotation) in (list, tuple):
        is_list = True
        annotation = typing.get_args(annotation)[0]
    return annotation, optional, is_list


def _type_error(value: Any, expected: type) -> bool:
    if expected is bool:
        return not isinstance(value, bool)
    if expected is int:
        return isinstance(value, bool) or not isinstance(value, int)
    if expected is float:
        return isinstance(value, bool) or not isinstance(value, (int, float))
    if expected is str:
        return not isinstance(value, str)
    return False


def check_options(config: Any, ranges: bool = True) -> None:
    """Raise a ConfigError naming the field and its flag where a setting has the wrong type, lies
    outside its range (numbers must also be finite) or is not one of its choices (`ranges=False`:
    the types only)."""
    types = field_types(config)
    for field in option_fields(config):
        info, value = option_info(field), getattr(config, field.name)
        expected, optional, is_list = scalar_type(types[field.name])
        if value is None:
            if optional:
                continue
            raise ConfigError(f"{field.name} must be given ({flag_of(field)})")
        values = value if is_list and isinstance(value, (list, tuple)) else [value]
        for item in values:
            if ranges:
                _check_value(field, info, expected, item)
            elif _type_error(item, expected):
                raise ConfigError(f"{field.name} must be {_KINDS.get(expected, 'valid')} ({flag_of(field)}); got "
                                  f"{item!r}")


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _check_value(field: dataclasses.Field, info: OptionInfo, expected: type, value: Any) -> None:
    flag = flag_of(field)
    if _type_error(value, expected):
        raise ConfigError(f"{field.name} must be {_KINDS.get(expected, 'valid')} ({flag}); got {value!r}")
    names = info.names()
    if names and value not in names:
        raise ConfigError(f"{field.name} must be one of {', '.join(names)} ({flag}); got {value!r}")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{field.name} must be a finite number ({flag}); got {value}")
    requirement = info.requirement(integer=expected is int)
    if requirement is None or expected not in (int, float):
        return
    finite = math.isfinite(value)
    low_ok = info.min is None or (value > info.min if info.min_open else value >= info.min)
    high_ok = info.max is None or (value < info.max if info.max_open else value <= info.max)
    if not (finite and low_ok and high_ok):
        finite_and = "finite and " if expected is float else ""
        raise ConfigError(f"{field.name} must be {finite_and}{requirement} ({flag}); got {value}")
