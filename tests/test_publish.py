"""``planner.publish``: outputs appear whole or not at all (issue 13 items 1-2, issue 15
items 2, 3, 7)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.publish import LOCK_PREFIX, PublishError, leftovers, publish_dir, publish_file


def _write(d: Path, **files: str) -> None:
    for name, text in files.items():
        (d / name).write_text(text)


def test_new_directory_appears_whole(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with publish_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".hvplan-tmp-plan-")
        _write(tmp, a="1", b="2")
        assert not out.exists()  # nothing visible until the block ends
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    assert leftovers(tmp_path) == []
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # not left private like mkdtemp


def test_existing_output_needs_force_and_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    out.mkdir()
    _write(out, a="old", stale="old")
    with pytest.raises(PublishError, match="--force"), publish_dir(out):
        pass
    assert (out / "a").read_text() == "old"
    with publish_dir(out, force=True) as tmp:
        _write(tmp, a="new")
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # no stale file of the old one
    assert (out / "a").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_an_empty_existing_directory_is_used_without_force(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    out.mkdir()
    with publish_dir(out) as tmp:
        _write(tmp, a="1")
    assert (out / "a").read_text() == "1"


def test_an_exception_leaves_the_earlier_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    out.mkdir()
    _write(out, a="old")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), publish_dir(out, force=True) as tmp:
            _write(tmp, a="half")
            raise exc
        assert (out / "a").read_text() == "old"
        assert leftovers(tmp_path) == []


def test_a_full_disk_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with pytest.raises(OSError) as info, publish_dir(out) as tmp:
        _write(tmp, a="1")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_file_where_a_directory_is_expected_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(PublishError) as info, publish_dir(f, force=True):
        pass
    assert info.value.usage and f.read_text() == "x"


def test_force_never_replaces_a_directory_with_subdirectories(tmp_path: Path) -> None:
    out = tmp_path / "home-like"
    (out / "Documents").mkdir(parents=True)
    with (
        pytest.raises(PublishError, match="not an earlier hvplan output"),
        publish_dir(out, force=True),
    ):
        pass
    assert (out / "Documents").is_dir()


def test_a_second_concurrent_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with publish_dir(out) as tmp:
        _write(tmp, a="first")
        with pytest.raises(PublishError, match="another hvplan"), publish_dir(out):
            pass
    assert (out / "a").read_text() == "first"


def test_a_stale_lock_is_taken_over_with_its_leftovers(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / f"{LOCK_PREFIX}plan").write_text(dead.stdout)
    (tmp_path / ".hvplan-tmp-plan-killed").mkdir()
    with publish_dir(out) as tmp:
        _write(tmp, a="1")
    assert (out / "a").read_text() == "1"
    assert leftovers(tmp_path) == []


def test_a_live_lock_of_another_process_is_respected(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    (tmp_path / f"{LOCK_PREFIX}plan").write_text(f"{os.getppid()}\n")
    with pytest.raises(PublishError, match=f"process {os.getppid()}"), publish_dir(out):
        pass
    assert not out.exists()


def test_publish_file(tmp_path: Path) -> None:
    target = tmp_path / "collect.ps1"
    with publish_file(target) as tmp:
        tmp.write_text("one")
        assert not target.exists()
    assert target.read_text() == "one"
    with pytest.raises(PublishError, match="--force"), publish_file(target):
        pass
    with pytest.raises(OSError), publish_file(target, force=True) as tmp:
        tmp.write_text("tr")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "one"  # never a truncated file
    with publish_file(target, force=True) as tmp:
        tmp.write_text("two")
    assert target.read_text() == "two" and leftovers(tmp_path) == []
    with pytest.raises(PublishError) as info, publish_file(tmp_path, force=True):
        pass
    assert info.value.usage


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_gives_an_oserror_and_leaves_nothing(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OSError), publish_dir(ro / "plan"):
            pass
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
