"""workhorse's configuration: Gunicorn 26's settings and a few of our own.

Strategy: the settings are typed dataclass fields declared once
(:mod:`.registry`, :mod:`.sections`); the CLI parser (:mod:`.parser`), the
loader (:mod:`.loader`) and docs/settings.md (:mod:`.docs`) are derived from
them. This package imports nothing else of workhorse.
"""

from __future__ import annotations

from workhorse.config.errors import ConfigError
from workhorse.config.loader import LoadedConfig, load_config
from workhorse.config.parser import make_cli_parser
from workhorse.config.registry import SettingInfo, Spec, Support, iter_settings
from workhorse.config.settings import Config, all_settings, print_config

__all__ = [
    "Config",
    "ConfigError",
    "LoadedConfig",
    "SettingInfo",
    "Spec",
    "Support",
    "all_settings",
    "iter_settings",
    "load_config",
    "make_cli_parser",
    "print_config",
]
