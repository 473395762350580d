"""Regenerate the tables of docs/models.md (typed models, older shapes) from the code.

PYTHONPATH=src:.:example python scripts/models_table.py          # rewrite docs/models.md
PYTHONPATH=src:.:example python scripts/models_table.py --check  # exit 1 if out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
_COMMON = {
    "id",
    "stripe_id",
    "account",
    "livemode",
    "data",
    "created",
    "metadata",
    "deleted",
    "deleted_at",
    "event_created",
    "event_id",
    "synced_at",
}


def table() -> str:
    from django.db import models

    from stripe_mirror.models import TYPED_MODELS

    lines = [
        "| model | Stripe object | typed columns | relations |",
        "|---|---|---|---|",
    ]
    for object_type, model in sorted(TYPED_MODELS.items(), key=lambda kv: kv[1].__name__):
        columns = [f.name for f in model._meta.concrete_fields if f.name not in _COMMON]
        links = [
            f"`{f.name}` → {f.related_model.__name__}"  # type: ignore[union-attr]
            for f in model._meta.get_fields()
            if isinstance(f, models.ForeignObject) and not f.auto_created and not f.concrete
        ]
        lines.append(
            f"| `{model.__name__}` | `{object_type}` | {', '.join(columns)} | "
            f"{', '.join(links) or '-'} |"
        )
    return "\n".join(lines)


def old_shapes() -> str:
    """Every older shape a typed column reads, from the columns' ``old(...)`` declarations."""
    from stripe_mirror.models import TYPED_MODELS
    from stripe_mirror.models.base import old_sources

    lines = [
        "| column | also reads (older objects) | until |",
        "|---|---|---|",
    ]
    for model in sorted(TYPED_MODELS.values(), key=lambda m: m.__name__):
        for field in model._meta.concrete_fields:
            for shape in old_sources(field):
                lines.append(
                    f"| `{model.__name__}.{field.name}` | {shape.described} | {shape.before} |"
                )
    return "\n".join(lines)


#: Generated blocks of docs/models.md: marker name -> what fills it.
BLOCKS = {"models-table": table, "old-shapes-table": old_shapes}


def rendered(text: str) -> str:
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name}:", f"<!-- end {name} -->"
        head, _, rest = text.partition(start)
        marker, _, rest = rest.partition("\n")
        _, _, tail = rest.partition(end)
        text = f"{head}{start}{marker}\n{make()}\n{end}{tail}"
    return text


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    current = DOC.read_text()
    wanted = rendered(current)
    if "--check" in sys.argv:
        return 0 if current == wanted else 1
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
