"""The settings registry: every setting is defined once, as typed data.

Strategy: each section of settings is a dataclass whose fields are created
with :func:`setting`. The field's annotation is the type of the value the
server reads (so ``cfg.workers`` is an ``int`` to mypy), and the field's
metadata is a :class:`Spec` that holds everything else: the section, the
command-line flags, the environment variable that provides the default,
the converter that validates raw input, and the help text. The CLI parser,
the config-file loader and ``docs/settings.md`` are all derived from these
specs, so a setting cannot drift between them.

Converters (:mod:`workhorse.config.converters`) take whatever a user can give
(a string from the command line or the environment, or any Python value from a
config file) and return the typed value or raise ``ValueError``/``TypeError``
with a message that says what is accepted. The loader adds the setting's name
and flags, so errors always name it.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from collections.abc import Callable, Iterator
from typing import Any

from workhorse.config.converters import Converter


class Support(enum.Enum):
    """How far workhorse implements a setting."""

    #: Implemented with Gunicorn's meaning.
    FULL = "full"
    #: A Gunicorn setting workhorse accepts but does not act on yet: using it
    #: logs one warning that says so.
    ACCEPTED = "accepted"
    #: A setting Gunicorn does not have.
    NEW = "new"


@dataclasses.dataclass(frozen=True)
class Spec:
    """Everything about a setting except its name, type and default."""

    section: str
    #: One line, shown in ``--help`` and at the top of the docs entry.
    help: str
    convert: Converter[Any]
    flags: tuple[str, ...] = ()
    #: argparse action: "store", "append", "store_true", "store_false" or "store_const".
    action: str = "store"
    metavar: str | None = None
    nargs: str | None = None
    const: Any = None
    #: Environment variable whose value, when set, replaces the default.
    env: str | None = None
    #: Turns the environment variable's text into raw input for ``convert``
    #: (e.g. ``PORT=5000`` into ``["0.0.0.0:5000"]``); ``None`` passes it as is.
    from_env: Callable[[str], Any] | None = None
    support: Support = Support.FULL
    #: For server hooks: the number of positional arguments the hook takes.
    hook_arity: int | None = None
    #: How the default is shown in docs and --help when it is not its repr.
    default_doc: str | None = None
    #: Why an ACCEPTED setting is not acted on (shown in the warning and docs).
    note: str | None = None
    #: Values of an ACCEPTED setting that workhorse does honour (no warning).
    honoured: tuple[Any, ...] = ()
    #: A relative path is taken relative to the working directory at start.
    anchored: bool = False
    #: Longer prose for docs/settings.md (the help line is always shown).
    details: str | None = None


def setting(
    default: Any,
    *,
    section: str,
    help: str,
    convert: Converter[Any],
    flags: tuple[str, ...] = (),
    action: str = "store",
    metavar: str | None = None,
    nargs: str | None = None,
    const: Any = None,
    env: str | None = None,
    from_env: Callable[[str], Any] | None = None,
    support: Support = Support.FULL,
    hook_arity: int | None = None,
    default_doc: str | None = None,
    note: str | None = None,
    honoured: tuple[Any, ...] = (),
    anchored: bool = False,
    details: str | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare one setting as a dataclass field (see the module docstring)."""
    spec = Spec(
        section=section,
        help=help,
        convert=convert,
        flags=flags,
        action=action,
        metavar=metavar,
        nargs=nargs,
        const=const,
        env=env,
        from_env=from_env,
        support=support,
        hook_arity=hook_arity,
        default_doc=default_doc,
        note=note,
        honoured=honoured,
        anchored=anchored,
        details=details,
    )
    metadata = {"spec": spec}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if isinstance(default, (list, dict, set)):
        # Mutable defaults are copied per Config so one instance cannot leak
        # changes into another.
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """A setting as the CLI, loader and docs see it."""

    name: str
    spec: Spec
    field: dataclasses.Field[Any]

    def default_value(self) -> Any:
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default

    @property
    def label(self) -> str:
        """The name with its flags, as errors show it: ``workers (-w/--workers)``."""
        if not self.spec.flags:
            return self.name
        return f"{self.name} ({'/'.join(self.spec.flags)})"

    def is_honoured(self, value: Any) -> bool:
        """True unless an ACCEPTED setting holds a value workhorse ignores."""
        if self.spec.support is not Support.ACCEPTED:
            return True
        if value is self.field.default or value == self.default_value():
            return True
        return any(value == ok for ok in self.spec.honoured)


def iter_settings(config_cls: type) -> Iterator[SettingInfo]:
    """Yield the settings of a config dataclass in declaration order."""
    for f in dataclasses.fields(config_cls):
        spec = f.metadata.get("spec")
        if isinstance(spec, Spec):
            yield SettingInfo(f.name, spec, f)
