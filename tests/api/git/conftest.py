"""Fixtures for the git routes: the live hub of the HF tests (`hub`), and `git` run as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.hf.conftest import hub  # noqa: F401 - the live server, personas and their API keys

GIT_TIMEOUT = 60


class Git:
    """The real `git` binary with a clean environment: its own HOME, no system config, never a prompt."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LANG": "C", "LC_ALL": "C",
               "NO_PROXY": "*", "GIT_LFS_SKIP_SMUDGE": "1"}
        env.update(extra)
        return env

    def remote(self, repo_id: str, key: str | None = None) -> str:
        """The clone URL, with `user:<API key>@` when a key is given (the key is the password, as with HF)."""
        if key is None:
            return f"{self.url}/{repo_id}.git"
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://git:{key}@{rest}/{repo_id}.git"

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["git", *args], cwd=cwd, env=self.env(**(env or {})), capture_output=True,
                                text=True, timeout=GIT_TIMEOUT, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def git(hub, tmp_path) -> Git:  # noqa: ANN001, F811
    if shutil.which("git") is None:
        pytest.skip("the git binary is not installed")
    home = tmp_path / "git-home"
    home.mkdir()
    return Git(home, hub.url)


@pytest.fixture
def git_lfs() -> None:
    if shutil.which("git-lfs") is None:
        pytest.skip("git-lfs is not installed (CI installs it: apt-get install git-lfs)")
