"""Typer's conversion of option values, without importing pydantic for plain values.

Typer (0.2x) converts every option value with a pydantic ``TypeAdapter``, made the
first time the option is processed: also for ``qostool CMD --help``, whose
group-level flag it processes. So every command paid for importing pydantic and
making adapters (about 110 ms of CPU of the 370 ms of ``qostool analyze --help``,
see bench/README_startup.md), though qostool itself never uses pydantic.

:func:`install` makes typer build an option's conversion lazily instead. The
plain values qostool's options take are converted here as typer converts them:
text, a flag, a whole or decimal number written plainly (``30``, ``-2``,
``0.95``), a path (through typer's own path checks), or a list of these. Anything
else (a bad number, ``1e3``, a value with a parser, bounds or choices, ...) goes
to typer's own conversion, made then, so its results and messages are typer's.
Where typer's internals are not what this expects (another typer version),
:func:`install` changes nothing, and only the speed differs
(``tests/test_imports.py`` notices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, get_args, get_origin

#: Numbers written plainly: what ``int()`` and ``float()`` read exactly as pydantic does.
_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")


class _NotPlainError(Exception):
    """The value is not one this module converts: typer's own conversion decides."""


def _path_checks_default(info: Any) -> bool:
    """Whether a path option asks typer for nothing but the path (exists, resolve, ...)."""
    return not (info.exists or info.resolve_path or info.allow_dash) and (
        info.path_type is None or info.path_type is Path
    )


def _plain(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """``value`` converted as typer would, or :class:`_NotPlainError`."""
    if info.parser is not None or info.min is not None or info.max is not None:
        raise _NotPlainError
    if get_origin(annotation) is list and isinstance(value, list | tuple):
        (item,) = get_args(annotation)
        return [_plain(item, info, one, param, ctx) for one in value]
    if annotation in (bool, str, int, float) and type(value) is annotation:  # a default
        return value
    if annotation is Path and isinstance(value, Path | str) and _path_checks_default(info):
        if value in ("", b""):
            raise _NotPlainError
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    if not isinstance(value, str):
        raise _NotPlainError
    if annotation is int and _INT.fullmatch(value):
        return int(value)
    if annotation is float and _FLOAT.fullmatch(value):
        return float(value)
    raise _NotPlainError


def install() -> None:
    """Make typer convert plain option values without pydantic (see the module docstring)."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, TypeDescriptor
    except ImportError:  # a typer without pydantic conversion: nothing to do
        return
    build: Any = getattr(core, "build_runtime_param", None)
    if build is None or getattr(build, "lazy", False):
        return

    @dataclass(frozen=True)
    class LazyParam(RuntimeParam):
        """Plain values converted here; typer's conversion made on the first other value."""

        descriptor: Any = None
        typer_own: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _plain(self.annotation, self.parameter_info, value, param, ctx)
            except _NotPlainError:
                pass
            if not self.typer_own:
                self.typer_own.append(build(self.descriptor))
            return self.typer_own[0]._coerce_value(value, param=param, ctx=ctx)

    def lazy(descriptor: Any) -> Any:
        if descriptor.file_annotation is not None:  # an open file: typer's own
            return build(descriptor)
        return LazyParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
        )

    try:  # what this expects of typer's internals, checked once
        from typer.models import OptionInfo

        probe = lazy(
            TypeDescriptor(annotation=str, parameter_info=OptionInfo(), file_annotation=None)
        )
        if not (
            isinstance(probe, RuntimeParam) and callable(core._TyperParameter.get_runtime_param)
        ):
            return
    except Exception:  # another typer: leave its conversion as it is
        return
    lazy.lazy = True  # type: ignore[attr-defined]
    core.build_runtime_param = lazy  # type: ignore[attr-defined]
