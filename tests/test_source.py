"""uedpo.source: the commit results and model cards name (one implementation for both)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from uedpo.source import DIRTY, git_commit, head_commit


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "f.txt").write_text("a", encoding="utf-8")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    sha = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    return tmp_path, sha, run


def test_head_commit_reads_the_ref_and_packed_refs(repo):
    root, sha, run = repo
    assert head_commit(root) == sha
    run("pack-refs", "--all")  # the branch ref now lives only in packed-refs
    assert head_commit(root) == sha


def test_git_commit_marks_a_changed_tree_dirty(repo):
    root, sha, _ = repo
    assert git_commit(root) == sha
    (root / "f.txt").write_text("b", encoding="utf-8")
    git_commit.cache_clear()
    assert git_commit(root) == sha + DIRTY
    git_commit.cache_clear()


def test_no_checkout_is_none(tmp_path):
    assert head_commit(tmp_path) is None and git_commit(tmp_path) is None
