"""The distributions a release would upload: their files, their metadata, and the README as
the package index shows it (it is the long description)."""

from __future__ import annotations

import re
import tarfile
import zipfile
from email.parser import Parser

import pytest
import trove_classifiers

import stripe_mirror
from tests.release import README, REPOSITORY, ROOT, Distributions, once_per_python

DIST_INFO = f"django_stripe_mirror-{stripe_mirror.__version__}.dist-info"
SOURCES = {
    path.relative_to(ROOT / "src").as_posix()
    for path in (ROOT / "src" / "stripe_mirror").rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
}


@pytest.mark.slow
@once_per_python
def test_the_wheel_holds_the_package_its_marker_and_its_license(
    distributions: Distributions,
) -> None:
    names = set(zipfile.ZipFile(distributions.wheel).namelist())
    package = {name for name in names if not name.startswith(DIST_INFO)}
    assert package == SOURCES  # every module, migrations and py.typed; nothing else
    assert {
        "stripe_mirror/py.typed",
        "stripe_mirror/migrations/0001_initial.py",
        "stripe_mirror/templates/stripe_mirror/admin/reprocess_confirmation.html",
    } <= package
    assert f"{DIST_INFO}/licenses/LICENSE" in names
    assert {name.split("/")[0] for name in names} == {"stripe_mirror", DIST_INFO}  # no tests/


@pytest.mark.slow
@once_per_python
def test_the_sdist_holds_the_sources_license_and_tests(distributions: Distributions) -> None:
    with tarfile.open(distributions.sdist) as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    assert {f"src/{name}" for name in SOURCES} <= names
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "tests/conftest.py"} <= names
    assert "docs/settings.md" in names


def _metadata(distributions: Distributions) -> dict[str, list[str]]:
    with zipfile.ZipFile(distributions.wheel) as wheel:
        message = Parser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    return {key: message.get_all(key) or [] for key in set(message.keys())}


def _tested_versions() -> set[tuple[str, str]]:
    """(Python, Django) of every virtualenv scripts/test.sh runs the suite in."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    cells = re.findall(r'^make_venv \S+ "\$PY3(\d+)" "==(\d+\.\d+)\.\*"', script, re.M)
    assert len(cells) >= 3, "scripts/test.sh should pin each venv's Django minor version"
    return {(f"3.{python}", django) for python, django in cells}


@pytest.mark.slow
@once_per_python
def test_the_metadata_claims_what_ci_runs(distributions: Distributions) -> None:
    metadata = _metadata(distributions)
    classifiers = metadata["Classifier"]
    assert set(classifiers) <= trove_classifiers.classifiers
    tested = _tested_versions()
    claimed_python = {c.rpartition(" :: ")[2] for c in classifiers if re.search(r":: 3\.\d+$", c)}
    claimed_django = {c.rpartition(" :: ")[2] for c in classifiers if "Django :: " in c}
    assert claimed_python == {python for python, _ in tested}
    assert claimed_django == {django for _, django in tested}
    assert metadata["Requires-Python"] == [f">={min(claimed_python, key=_version)}"]
    assert "Typing :: Typed" in classifiers
    assert metadata["License-Expression"] == ["MIT"]
    assert metadata["License-File"] == ["LICENSE"]
    assert metadata["Description-Content-Type"] == ["text/markdown"]
    urls = dict(url.split(", ", 1) for url in metadata["Project-URL"])
    assert urls["Homepage"] == REPOSITORY
    assert all(url.startswith(REPOSITORY) for url in urls.values())


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_license_names_the_authors() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 django-stripe-mirror developers\n")


#: Markdown link targets: inline ``[text](target)`` and reference definitions ``[x]: target``.
_LINK = re.compile(r"\]\((?P<inline>[^)\s]+)\)|^\[[^\]]+\]:\s*(?P<reference>\S+)", re.M)


def test_readme_links_work_from_the_package_index() -> None:
    """The package index shows README.md without the repository around it: a relative link
    (docs/settings.md) would lead nowhere. Links into the repository must name its files."""
    targets = [m["inline"] or m["reference"] for m in _LINK.finditer(README.read_text())]
    assert any("/docs/" in target for target in targets)
    for target in targets:
        assert re.match(r"https?://|#|mailto:", target), f"relative link in README: {target}"
        path = re.match(rf"{re.escape(REPOSITORY)}/(?:blob|tree)/main/(.+)", target)
        if path:
            assert (ROOT / path[1]).exists(), f"README links to a missing file: {target}"
