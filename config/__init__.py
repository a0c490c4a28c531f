"""Settings and the deployment's replaceable data files (geography, standards, device maps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

CONFIG_DIR = Path(__file__).resolve().parent
Model = TypeVar("Model", bound=BaseModel)


def load_json_rules(path: Path, model: type[Model], what: str) -> Model:
    """A rules file (JSON, with an optional top-level `_comment` for people) validated as
    `model`; a missing or bad file raises ValueError naming what, the file and the field."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(doc, dict):
            doc.pop("_comment", None)
        return model.model_validate(doc)
    except (OSError, ValueError, ValidationError) as e:
        raise ValueError(f"{what} {path}: {e}") from None
