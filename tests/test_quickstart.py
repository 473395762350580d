"""What a new user does, in subprocesses: the package installed from its wheel (not editable)
into a virtualenv of its own, a project made by ``django-admin startproject``, the README's
Quickstart blocks applied as written (read from README.md itself: see tests/release.py), then
``migrate``, ``check``, the site started with ``runserver`` and sent signed events.

The new virtualenv holds the wheel only; the dependencies come from the test venv, whose
site-packages a ``.pth`` line puts on its path (nothing is downloaded, and the test venv's
editable install is not: a path added by a ``.pth`` line does not run the ``.pth`` files in it).
INSTALLED_APPS is startproject's, plus what the README adds: ``stripe_mirror``, the user's app
and, on Django 5.2 only, ``django_tasks``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import django
import pytest

from stripe_mirror.testing import build_event
from tests import live
from tests.release import Distributions, once_per_python, quickstart_blocks

pytestmark = [pytest.mark.slow, once_per_python]

SECRET = "whsec_quickstart"
#: Values for the variables the README's commands export (placeholders there).
EXPORTED = {"STRIPE_WEBHOOK_SECRET": SECRET}


@dataclass
class Project:
    python: Path  # the new virtualenv's interpreter
    root: Path  # the folder of manage.py
    env: dict[str, str]
    runserver: list[str] | None = None  # the README's runserver arguments

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.python), "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def run_line(self, line: str) -> None:
        """One line of a README ``run`` block."""
        argv = shlex.split(line, comments=True)
        if not argv:
            return
        if argv[0] == "export":
            name, _, placeholder = argv[1].partition("=")
            assert placeholder.startswith("whsec_"), line
            self.env[name] = EXPORTED[name]
        elif argv[:2] == ["python", "manage.py"]:
            if argv[2] == "runserver":  # started by the test, once everything is in place
                self.runserver = argv[3:]
            else:
                self.manage(*argv[2:])
        else:
            raise AssertionError(f"a Quickstart command the test does not know: {line}")


@pytest.fixture(scope="module")
def venv(distributions: Distributions, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the wheel installed in it, and the test venv's packages beside."""
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q"),
            *("--no-deps", "--no-index", "--ignore-installed", str(distributions.wheel)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "test-venv-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def project(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """``django-admin startproject mysite`` with the README's Quickstart applied."""
    parent = tmp_path_factory.mktemp("site")
    # `python -m django` is django-admin, run by the new virtualenv's interpreter.
    subprocess.run([str(venv), "-m", "django", "startproject", "mysite"], cwd=parent, check=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(parent),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SUPERUSER_PASSWORD": "quickstart-password",
    }
    project = Project(python=venv, root=parent / "mysite", env=env)
    for block in quickstart_blocks():
        target = project.root / block.target
        if block.action == "run":
            for line in block.code.splitlines():
                project.run_line(line)
        elif block.action == "append":
            target.write_text(target.read_text() + "\n\n" + block.code)
        elif block.action == "write":
            target.write_text(block.code)
    assert project.runserver is not None, "the Quickstart should say how to start the site"
    return project


@pytest.fixture
def server(project: Project) -> Iterator[str]:
    """The site under ``runserver``, as the README starts it, on a free port."""
    port = live.free_port()
    assert project.runserver is not None
    argv = [str(project.python), str(project.root / "manage.py"), "runserver", *project.runserver]
    process = live.Process([*argv, f"127.0.0.1:{port}", "--noreload"], project.env)
    url = f"http://127.0.0.1:{port}"
    try:
        live.wait_for(lambda: _answers(url, process), f"runserver at {url}", timeout=60)
        yield url
    finally:
        process.stop()


def _answers(url: str, process: live.Process) -> bool:
    assert process.popen.poll() is None, f"runserver exited:\n{process.output()}"
    try:
        live.request(f"{url}/admin/login/")
    except OSError:
        return False
    return True


#: Run in `manage.py shell` after the events: what the handler and the mirror did, then the
#: README's query block.
REPORT = """
import json, sys
import django
from django.contrib.auth import get_user_model
import stripe_mirror, stripe_mirror.views
from stripe_mirror.models import InboxEvent, Invoice

ann = get_user_model().objects.get(username="ann")
invoice_row = InboxEvent.objects.get(type="invoice.paid")
report = {
    "groups": list(ann.groups.values_list("name", flat=True)),
    "statuses": sorted(InboxEvent.objects.values_list("status", flat=True)),
    "handlers": invoice_row.completed_handlers,
    "invoice_customer_email": Invoice.objects.get(stripe_id="in_quickstart").customer.email,
    "package": stripe_mirror.__file__,
    "backport_imported": "django_tasks" in sys.modules,
}
"""


def test_the_quickstart_runs_as_written(project: Project, server: str, venv: Path) -> None:
    check = project.manage("check")
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."
    project.manage(
        "createsuperuser", "--noinput", "--username", "ann", "--email", "ann@example.com"
    )
    customer = {"id": "cus_123", "object": "customer", "email": "ann@example.com"}
    invoice = {
        "id": "in_quickstart",
        "object": "invoice",
        "customer": "cus_123",
        "customer_email": "Ann@Example.com",
        "status": "paid",
    }
    for event in (build_event("customer.created", customer), build_event("invoice.paid", invoice)):
        response = live.post_event(server, event, secret=SECRET)
        assert response.status == 200, response.body

    (query,) = [block.code for block in quickstart_blocks() if block.action == "query"]
    code = REPORT + query + "\nprint('REPORT', json.dumps(report))\n"
    output = project.manage("shell", "-c", code).stdout
    report = json.loads(output.rpartition("REPORT ")[2])

    assert report["groups"] == ["paying"]  # the README's handler ran
    assert report["statuses"] == ["processed", "processed"]
    assert "billing.stripe_handlers.grant_access" in report["handlers"]
    assert report["invoice_customer_email"] == "ann@example.com"  # mirrored, and related
    assert Path(report["package"]).is_relative_to(venv.parent.parent)  # the wheel's copy
    # Django 6 has django.tasks: the backport, installed as a dependency, is never imported.
    assert report["backport_imported"] is (django.VERSION < (6, 0))


@pytest.mark.skipif(django.VERSION >= (6, 0), reason="Django 6 has django.tasks built in")
def test_django_5_2_without_the_backport_app_fails_a_system_check(project: Project) -> None:
    settings = project.root / "mysite" / "settings_no_backport.py"
    settings.write_text(
        "from .settings import *  # noqa: F403\n\n"
        'INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_tasks"]  # noqa: F405\n'
    )
    done = project.manage("check", "--settings", "mysite.settings_no_backport", check=False)
    assert done.returncode == 1
    assert "stripe_mirror.E013" in done.stderr
    assert "'django_tasks' is not in INSTALLED_APPS" in done.stderr
    assert "Traceback" not in done.stderr
