"""A store that knows its files: one test per kind of damage (issue 16, defect 3).

For each fault, on a copy of a finished sweep: `analyze` refuses with one `error:` line
naming the file and the repairing command, and a resume runs exactly the damaged run
again, after which the store equals the undamaged one bit for bit.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_sweep import SMALL, Stored, assert_same_results, read_sweep, run_cli, write_spec

from tokenmarket.runs.store import FILES, SweepStore


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Stored]:
    root = tmp_path_factory.mktemp("store")
    spec = write_spec(root, SMALL)
    out = root / "whole"
    code, _, err = run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])
    assert code == 0, err
    return spec, out, read_sweep(out)


def copy_of(whole: Path, tmp_path: Path) -> Path:
    """A copy of the finished sweep, to damage."""
    return Path(shutil.copytree(whole, tmp_path / "copy"))


def overwrite_inside(path: Path) -> None:
    """Flip bytes in the middle: same size, valid header and footer."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def forget_records(out: Path) -> None:
    """A summary without its record: the record log lost its lines."""
    (out / FILES).write_text("")


FAULTS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "zero-byte time series": ("timeseries", lambda p: p.write_bytes(b""), "is empty"),
    "deleted time series": ("timeseries", Path.unlink, "is missing"),
    "deleted summary": ("runs", Path.unlink, "is missing"),
    "truncated summary": ("runs", truncate, "on record"),
    "bytes overwritten in a summary": ("runs", overwrite_inside, "checksum"),
    "bytes overwritten in a time series": ("timeseries", overwrite_inside, "checksum"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_file_is_refused_by_analyze_and_repaired_by_resume(
    fault: str, reference: tuple[Path, Path, Stored], tmp_path: Path
) -> None:
    spec, whole, stored = reference
    folder, damage, problem = FAULTS[fault]
    out = copy_of(whole, tmp_path)
    victim = sorted((out / folder).glob("*.parquet"))[2]
    damage(victim)

    code, stdout, err = run_cli(["analyze", str(out)])
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert str(victim) in err and problem in err
    assert f"tokenmarket sweep {spec} --out {out} --resume" in err

    code, stdout, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert "ran 1 in" in stdout  # the damaged run, and only it
    assert_same_results(read_sweep(out), stored)
    assert SweepStore(out).verify() == {}
    code, _, err = run_cli(["analyze", str(out)])
    assert code == 0, err


def test_a_run_without_a_record_is_run_again(
    reference: tuple[Path, Path, Stored], tmp_path: Path
) -> None:
    spec, whole, stored = reference
    out = copy_of(whole, tmp_path)
    forget_records(out)
    code, _, err = run_cli(["analyze", str(out)])
    assert code == 2 and "no size and checksum on record" in err
    code, stdout, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert f"ran {len(stored.summary['run_id'].unique())} in" in stdout
    assert_same_results(read_sweep(out), stored)


def test_the_manifest_lists_size_and_checksum_of_every_file(
    reference: tuple[Path, Path, Stored],
) -> None:
    _, whole, _ = reference
    files = json.loads((whole / "manifest.json").read_text())["files"]
    on_disk = sorted(
        str(p.relative_to(whole)) for d in ("runs", "timeseries") for p in (whole / d).iterdir()
    )
    assert sorted(files) == on_disk
    for relative, record in files.items():
        assert (whole / relative).stat().st_size == record["bytes"]
        assert len(record["blake2b"]) == 128


def test_an_unreadable_summary_is_rebuilt_from_the_run_files(
    reference: tuple[Path, Path, Stored], tmp_path: Path
) -> None:
    """summary.parquet is an index of the verified run files: garbage there is repaired."""
    _, whole, stored = reference
    out = copy_of(whole, tmp_path)
    (out / "summary.parquet").write_bytes(b"PAR1 not a parquet file PAR1")  # newer than runs
    code, _, err = run_cli(["analyze", str(out)])
    assert code == 0, err
    assert_same_results(read_sweep(out), stored)


def test_a_summary_that_cannot_be_rebuilt_is_one_error_line(
    reference: tuple[Path, Path, Stored], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, whole, _ = reference
    out = copy_of(whole, tmp_path)
    (out / "summary.parquet").write_bytes(b"garbage")
    monkeypatch.setattr(SweepStore, "build_summary", lambda self: None)  # a rebuild that fails
    code, stdout, err = run_cli(["analyze", str(out)])
    assert code == 2 and stdout == ""
    assert err.startswith(f"error: {out / 'summary.parquet'} cannot be read as Parquet (")
    assert err.count("\n") == 1 and "Traceback" not in err
