"""conf.py: every key the settings module knows is documented in docs/settings.md, and
nothing documented there is unknown to it."""

from __future__ import annotations

import re
from pathlib import Path

from stripe_mirror import conf

SETTINGS_DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def _table_keys(title: str) -> set[str]:
    """The keys in the first column of the table under the heading ``## title``."""
    text = SETTINGS_DOC.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))


def test_every_top_level_key_is_documented() -> None:
    assert _table_keys("Top-level keys") == set(conf.DEFAULTS)


def test_every_endpoint_key_is_documented() -> None:
    assert _table_keys("Keys of an endpoint") == set(conf.ENDPOINT_KEYS)


def test_documented_defaults_match_the_code() -> None:
    text = SETTINGS_DOC.read_text()
    for key, default in conf.DEFAULTS.items():
        row = re.search(rf"^\| `{key}` \| ([^|]+) \|", text, flags=re.MULTILINE)
        assert row is not None, key
        shown = row.group(1)
        if isinstance(default, bool | int | str) and key != "ENDPOINTS":
            assert repr(default).replace("'", '"') in shown, (key, shown)
