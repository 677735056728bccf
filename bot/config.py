"""Reading the YAML files under config/: one reader, errors that name the file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: Path, where: str, error: type[Exception]) -> Mapping[str, Any]:
    """Parse a YAML file whose top level must be a mapping; raise ``error`` naming ``where``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(f"{where}: cannot read: {exc}") from exc
    if not isinstance(data, Mapping):
        raise error(f"{where}: top level must be a mapping")
    return data
