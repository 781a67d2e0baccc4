"""`make browser` and `make postgres` on a machine where Chromium and PostgreSQL are missing.

The targets install Debian's packages: as root directly, as anyone else through sudo. The
machine running the tests has both (`make test` saw to it), so each test gives `make` a PATH of
symlinks to everything on the real PATH except `chromium` and `initdb` (and points
`PG_INITDB`, where Debian keeps initdb off PATH, nowhere): the targets see a machine without
them and run apt-get for real, which finds the packages installed and changes nothing.

Needs root (to add a throwaway user and let it sudo), apt-get and Debian's sudo; skipped
without them, except under CI=true, where a missing one fails (.ci/run installs sudo).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.postgres import in_ci

pytestmark = [pytest.mark.install, pytest.mark.slow]

HIDDEN = {"chromium", "chromium-browser", "initdb"}
TARGETS = {"browser": "chromium", "postgres": "postgresql"}


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if in_ci():
        pytest.fail(f"the install-target tests need {reason} in CI", pytrace=False)
    pytest.skip(f"needs {reason}")


@pytest.fixture(scope="module")
def machine() -> Iterator[Path]:
    """A world-readable folder: a copy of the Makefile, and bin/, the PATH without Chromium,
    initdb or (bin-nosudo/) sudo."""
    _need(os.geteuid() == 0, "root")
    _need(shutil.which("apt-get") is not None, "apt-get (Debian)")
    _need(shutil.which("sudo") is not None, "Debian's sudo package")
    folder = Path(tempfile.mkdtemp(prefix="runbook-install-"))
    folder.chmod(0o755)
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    for name, hidden in (("bin", HIDDEN), ("bin-nosudo", HIDDEN | {"sudo"})):
        shadow = folder / name
        shadow.mkdir()
        for directory in os.environ["PATH"].split(os.pathsep):
            if not os.path.isdir(directory):
                continue
            for entry in os.scandir(directory):
                target = shadow / entry.name
                if entry.name not in hidden and not target.exists() and os.access(
                        entry.path, os.X_OK) and not entry.is_dir():
                    target.symlink_to(entry.path)
        assert shutil.which("make", path=str(shadow)), "make is not on PATH"
        assert not any(shutil.which(name, path=str(shadow)) for name in hidden)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def operator_account(machine: Path) -> Iterator[str]:
    """A throwaway non-root user who may sudo, as an admin on a Debian desktop would."""
    name = f"rb-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
    sudoers = Path("/etc/sudoers.d") / name
    sudoers.write_text(f"{name} ALL=(root) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    try:
        yield name
    finally:
        sudoers.unlink(missing_ok=True)
        subprocess.run(["userdel", name], capture_output=True)


def _make(machine: Path, target: str, user: str | None = None,
          path: str = "bin") -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(machine / path), "HOME": str(machine), "LANG": "C.UTF-8"}
    return subprocess.run(["make", "--no-print-directory", "-C", str(machine), target,
                           "PG_INITDB=/nonexistent/initdb"],
                          capture_output=True, text=True, env=env, user=user, timeout=900)


def _installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", package],
                          capture_output=True, text=True)
    return done.stdout.strip() == "install ok installed"


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_install_target_runs_apt_get_as_root(machine, target):
    result = _make(machine, target)
    assert result.returncode == 0, result.stdout + result.stderr
    package = TARGETS[target]
    assert f"make: installing Debian's {package}: apt-get install {package}" in result.stdout
    assert "not found" not in result.stderr, result.stderr
    assert _installed(package)


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_install_target_runs_apt_get_through_sudo_for_a_user(machine, operator_account,
                                                                  target):
    result = _make(machine, target, user=operator_account)
    assert result.returncode == 0, result.stdout + result.stderr
    package = TARGETS[target]
    assert f"make: installing Debian's {package}: sudo apt-get install {package}" \
        in result.stdout, result.stdout + result.stderr
    assert _installed(package)


def test_a_user_without_sudo_is_told_in_one_line(machine, operator_account):
    result = _make(machine, "browser", user=operator_account, path="bin-nosudo")
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if line.startswith("make: chromium")]
    assert said == ["make: chromium is missing; installing it needs root or sudo "
                    "(apt-get install chromium)"], result.stderr


@pytest.mark.parametrize("target", list(TARGETS))
def test_an_install_target_does_nothing_when_the_program_is_there(machine, target):
    env = {"PATH": os.environ["PATH"]}
    result = subprocess.run(["make", "--no-print-directory", "-C", str(machine), target],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stdout
