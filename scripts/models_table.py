"""Regenerate the table of typed models in docs/models.md from the code.

PYTHONPATH=src:.:example python scripts/models_table.py          # rewrite docs/models.md
PYTHONPATH=src:.:example python scripts/models_table.py --check  # exit 1 if out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
START = "<!-- models-table:"
END = "<!-- end models-table -->"
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


def rendered(text: str) -> str:
    head, _, rest = text.partition(START)
    marker, _, rest = rest.partition("\n")
    _, _, tail = rest.partition(END)
    return f"{head}{START}{marker}\n{table()}\n{END}{tail}"


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
