"""Subcommands of ``kvision``: one module per group, each with ``register(subparsers)``.

Modules import their heavy dependencies inside the handlers, so ``kvision --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


class CliError(Exception):
    """A problem the user can fix; printed as ``error: ...`` with exit code 2."""


def write_json(result: Any, out: Path | None) -> None:
    text = json.dumps(result, indent=2, allow_nan=True)
    if out is None:
        print(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"wrote {out}", file=sys.stderr)


def parse_seeds(text: str) -> list[int]:
    """``3``, ``0-9`` or ``1,5,7-9`` -> a list of seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                start, end = part.split("-", 1)
                seeds.extend(range(int(start), int(end) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError as error:
        raise CliError(f"seeds must look like 3, 0-9 or 1,5,7-9; got {text!r}") from error
    if not seeds or min(seeds) < 0:
        raise CliError(f"no valid seeds in {text!r}")
    return seeds
