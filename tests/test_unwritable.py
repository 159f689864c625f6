"""Output paths that cannot be written: one `error:` line, status 2, nothing written."""

import sys
from pathlib import Path

import pytest
from test_sweep import run_cli

# /proc/x does not exist and cannot be made; /sys refuses even root. os.access says yes
# to both for root, so only trying to create something tells.
UNREAL = [Path("/proc/x"), Path("/proc/x/deeper"), Path("/sys/x")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux's")
@pytest.mark.parametrize("out", UNREAL, ids=str)
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_out_that_cannot_be_created_is_refused(command: str, out: Path) -> None:
    argv = (
        ["run", "--scenario", "classroom", "--steps", "1"]
        if command == "run"
        else ["sweep", "smoke"]
    )
    code, stdout, err = run_cli([*argv, "--out", str(out)])
    assert code == 2, err
    assert err.startswith(f"error: --out: cannot create {str(out)!r} (") and err.count("\n") == 1
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_an_out_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for argv in (["run", "--scenario", "classroom", "--steps", "1"], ["sweep", "smoke"]):
        code, _, err = run_cli([*argv, "--out", str(blocker / "out")])
        assert code == 2 and err.startswith("error: --out:") and err.count("\n") == 1
    assert blocker.read_text() == "not a directory"
