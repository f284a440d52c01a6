"""Flag vocabulary shared by the ``attanet_ros`` commands: old spellings kept as deprecated aliases.

One name per concept across commands (``--classes-file``, ``--domain-id``); a renamed flag keeps
working under its old name, hidden from ``--help``, and says on stderr what to write instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


class DeprecatedAlias(argparse.Action):
    """``parser.add_argument("--old", dest="new_dest", action=DeprecatedAlias, new="--new", type=...)``."""

    def __init__(self, option_strings: list[str], dest: str, new: str, **kwargs: Any) -> None:
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


__all__ = ["DeprecatedAlias"]
