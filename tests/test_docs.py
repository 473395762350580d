"""The docs that are generated from the code are up to date."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("models_table", ROOT / "scripts/models_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_models_table_in_docs_matches_the_models():
    script = _script()
    current = script.DOC.read_text()
    assert current == script.rendered(current), (
        "docs/models.md is out of date: run PYTHONPATH=src:.:example python scripts/models_table.py"
    )
