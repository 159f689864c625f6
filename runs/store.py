"""The results store of a sweep: one directory, one Parquet file per finished run.

    DIR/manifest.json            spec, its hash, package versions, per-run status
    DIR/runs/<run_id>.parquet    a finished run's final-month summary (one row per provider)
    DIR/runs/<run_id>.failed.json   a run that raised: error, traceback, seed, parameters
    DIR/timeseries/<run_id>.parquet every month of the run (when the spec asks for it)
    DIR/summary.parquet          all finished runs' summaries in one table, rebuilt at the end
    DIR/files.jsonl              per finished run, the size and BLAKE2b digest of its files

The run files are the truth: a run is done exactly when its summary file exists and its
files match their record. Each file is written under a temporary name, flushed to disk and
renamed into place (an atomic step), so a sweep killed at any moment leaves whole files or
none; the time series of a run is written first, then its record (sizes and digests of the
bytes in memory, appended to `files.jsonl` and flushed), then the summary that marks the
run complete. A resume checks every file against its record and runs again whatever is
missing, empty, truncated or overwritten; `verify` lets a reader refuse such a store.
`manifest.json` is an index refreshed from the files (at the start, every few seconds, at
the end), the records included; the driver keeps no per-run state of its own, so its
memory does not grow with the number of runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SUMMARY = "summary.parquet"
RUNS = "runs"
TIMESERIES = "timeseries"
LOCK = ".lock"
FILES = "files.jsonl"
FAILED_SUFFIX = ".failed.json"
FORMAT = 2
"""Version of this directory layout."""
PACKAGES = ("tokenmarket", "mesa", "numpy", "pandas", "pyarrow", "dask", "distributed", "SALib")
SUMMARY_BATCH = 2_000
"""Run files read at once when the summary is rebuilt."""
REFRESH_SECONDS = 5.0
"""Longest interval between manifest refreshes while a sweep runs."""


class StoreError(ValueError):
    """A sweep directory that cannot be used as asked, with a message for a person."""


def file_record(data: bytes) -> dict[str, Any]:
    """Size and BLAKE2b digest of a file's bytes: what `verify` checks it against."""
    return {"bytes": len(data), "blake2b": hashlib.blake2b(data).hexdigest()}


def file_problem(path: Path, record: dict[str, Any] | None) -> str | None:
    """What is wrong with the file at `path` against its record; None if nothing."""
    if record is None:
        return "has no size and checksum on record"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size == 0:
        return "is empty"
    if size != record.get("bytes"):
        return f"has {size} bytes, {record.get('bytes')} on record"
    try:
        digest = hashlib.blake2b(path.read_bytes()).hexdigest()
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if digest != record.get("blake2b"):
        return "does not match its checksum (overwritten or corrupted)"
    return None


def staging_path(path: Path) -> Path:
    """The hidden temporary name a file is written under before it is moved into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def sync_into_place(tmp: Path, path: Path) -> None:
    """Sync a finished temporary file to disk, then rename it over `path` (atomic on POSIX)."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write `path` through: whole or not at all.

    On success the file is synced and renamed into place; on any failure (Ctrl-C included)
    it is removed, so a reader never sees half a file.
    """
    tmp = staging_path(path)
    try:
        yield tmp
        sync_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def code_hash() -> str:
    """SHA-256 of the model's source and built-in scenarios: flags a model edited mid-sweep."""
    digest = hashlib.sha256()
    for package in ("tokenmarket.model", "tokenmarket.model.scenarios", "tokenmarket.agents"):
        files = sorted(resources.files(package).iterdir(), key=lambda f: f.name)
        for entry in files:
            if entry.name.endswith((".py", ".toml")):
                digest.update(entry.name.encode())
                digest.update(entry.read_bytes())
    return digest.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SweepStore:
    """A sweep directory: create or reopen it, record runs, rebuild the index and summary."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / RUNS
        self.timeseries_dir = self.root / TIMESERIES
        self.manifest_path = self.root / MANIFEST
        self._lock_handle: Any = None
        self._last_refresh = 0.0

    # ------------------------------------------------------------------ opening
    @staticmethod
    def read_manifest(root: Path) -> dict[str, Any]:
        """The manifest of the sweep in `root`; a StoreError if there is none."""
        path = Path(root) / MANIFEST
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(f"{str(root)!r} holds no sweep (no {MANIFEST})") from None
        except (OSError, ValueError) as err:
            raise StoreError(f"{str(path)!r} cannot be read: {err}") from None

    @classmethod
    def check_new(cls, root: Path) -> None:
        """Refuse to start a sweep over an existing one (before anything is written)."""
        if (Path(root) / MANIFEST).exists():
            raise StoreError(
                f"--out: {str(root)!r} already holds a sweep; continue it with --resume, "
                "or choose another directory"
            )

    @classmethod
    def check_resume(cls, root: Path, spec_hash: str, identity: dict[str, Any]) -> dict[str, Any]:
        """The stored manifest, if its spec is the same as this one; else a StoreError."""
        try:
            manifest = cls.read_manifest(root)
        except StoreError as err:
            raise StoreError(f"--resume: {err}") from None
        if manifest.get("spec_hash") != spec_hash:
            stored = manifest.get("identity", {})
            changed = _changed_fields(stored, identity) or ["(unknown)"]
            raise StoreError(
                f"--resume: the spec differs from the one {str(root)!r} was started with "
                f"(changed: {', '.join(changed)}); restore it, or start a new sweep in "
                "another --out directory"
            )
        return manifest

    def create(self, manifest: dict[str, Any]) -> None:
        """Make the directory and write the first manifest."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self.timeseries_dir.mkdir(exist_ok=True)
        self._write_manifest({"format": FORMAT, "created": _now(), **manifest})

    def lock(self) -> None:
        """Hold an exclusive lock on the directory while a sweep writes to it."""
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: run without
            return
        handle = open(self.root / LOCK, "a")  # noqa: SIM115  (held until `unlock`)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError(
                f"--out: {str(self.root)!r} is being written by another sweep; wait for it "
                "or choose another directory"
            ) from None
        self._lock_handle = handle

    def unlock(self) -> None:
        """Release the lock (also released by the system if the process dies)."""
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def prepare_resume(self) -> set[str]:
        """Clear what a killed sweep may have left, and return the ids of the finished runs.

        Temporaries are removed; every file of a finished run is checked against its record,
        and a run with a file missing or damaged (a disk that lost data, a file deleted or
        overwritten by hand) loses all its files, so it is run again.
        """
        for folder in (self.runs_dir, self.timeseries_dir, self.root):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        damaged = self.verify()
        for run_id in damaged:
            (self.runs_dir / f"{run_id}.parquet").unlink(missing_ok=True)
            (self.timeseries_dir / f"{run_id}.parquet").unlink(missing_ok=True)
        return set(self.done_ids())

    def records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The latest record of each run: file path (relative to the root) -> size, digest.

        A line that does not parse (the tail of a write cut by a crash) is skipped: the run
        it would have recorded has no summary yet, or is run again.
        """
        found: dict[str, dict[str, dict[str, Any]]] = {}
        with contextlib.suppress(FileNotFoundError), open(self.root / FILES, "rb") as log:
            for line in log:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    entry = json.loads(line)
                    found[str(entry["run"])] = dict(entry["files"])
        return found

    def verify(self) -> dict[str, list[str]]:
        """Finished runs whose files are not as recorded: run id -> ['PATH is missing', ...].

        A run is finished if its summary file exists or the manifest last listed it as
        done (so a deleted summary is noticed, and a run cut before its summary was written
        is merely pending). Every recorded file is read whole.
        """
        records = self.records()
        listed: dict[str, str] = {}
        with contextlib.suppress(StoreError):
            listed = self.read_manifest(self.root).get("status", {})
        finished = {r for r, state in listed.items() if state == "done"} | set(self.done_ids())
        damaged: dict[str, list[str]] = {}
        for run_id in sorted(finished):
            files = records.get(run_id, {f"{RUNS}/{run_id}.parquet": None})
            for relative, record in files.items():
                problem = file_problem(self.root / relative, record)
                if problem is not None:
                    damaged.setdefault(run_id, []).append(f"{self.root / relative} {problem}")
        return damaged

    def check_whole(self) -> None:
        """A StoreError naming the first missing or damaged file and the command that repairs it."""
        damaged = self.verify()
        if not damaged:
            return
        problems = [p for found in damaged.values() for p in found]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        manifest = self.read_manifest(self.root)
        spec = manifest.get("spec_path") or manifest.get("name", "SPEC")
        raise StoreError(
            f"{problems[0]}{more}; run the damaged runs again with: "
            f"tokenmarket sweep {spec} --out {self.root} --resume"
        )

    # ------------------------------------------------------------------ recording
    def write_run(self, run_id: str, summary: bytes, timeseries: bytes | None = None) -> None:
        """Record a finished run: time series, then its record, then the summary (done)."""
        files = {f"{RUNS}/{run_id}.parquet": file_record(summary)}
        if timeseries is not None:
            atomic_write(self.timeseries_dir / f"{run_id}.parquet", timeseries)
            files[f"{TIMESERIES}/{run_id}.parquet"] = file_record(timeseries)
        with open(self.root / FILES, "ab") as log:
            log.write(json.dumps({"run": run_id, "files": files}).encode() + b"\n")
            log.flush()
            os.fsync(log.fileno())
        atomic_write(self.runs_dir / f"{run_id}.parquet", summary)
        (self.runs_dir / f"{run_id}{FAILED_SUFFIX}").unlink(missing_ok=True)

    def write_failure(self, run_id: str, record: dict[str, Any]) -> None:
        """Record a run that raised (a resume runs it again)."""
        data = json.dumps({"run_id": run_id, **record}, indent=1, default=str)
        atomic_write(self.runs_dir / f"{run_id}{FAILED_SUFFIX}", data.encode())

    def done_ids(self) -> Iterator[str]:
        """Ids of the finished runs, from the file names."""
        return (p.stem for p in self.runs_dir.glob("*.parquet"))

    def failures(self) -> list[dict[str, Any]]:
        """The failure records, in run order."""
        paths = sorted(self.runs_dir.glob(f"*{FAILED_SUFFIX}"))
        return [json.loads(p.read_text()) for p in paths]

    # ------------------------------------------------------------------ index
    def refresh_manifest(self, run_ids: Callable[[], Iterable[str]], force: bool = True) -> None:
        """Rewrite the manifest's per-run status from the run files.

        With `force=False` it does so only if REFRESH_SECONDS have passed since the last
        time, so recording a run stays cheap however many runs there are.
        """
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_SECONDS:
            return
        self._last_refresh = now
        manifest = self.read_manifest(self.root)
        done = set(self.done_ids())
        failures = {f["run_id"]: f for f in self.failures() if f["run_id"] not in done}
        status = {
            run_id: "done" if run_id in done else "failed" if run_id in failures else "pending"
            for run_id in run_ids()
        }
        counts = {k: sum(1 for s in status.values() if s == k) for k in ("done", "failed")}
        manifest.update(
            updated=_now(),
            counts={"runs": len(status), **counts, "pending": len(status) - sum(counts.values())},
            failures=[
                {k: f.get(k) for k in ("run_id", "seed", "point", "replication", "error")}
                for f in failures.values()
            ],
            status=status,
            files={
                path: record
                for run_id, files in sorted(self.records().items())
                if run_id in done
                for path, record in files.items()
            },
        )
        self._write_manifest(manifest)

    def note_session(self, executor: str, resumed: bool) -> None:
        """Append this invocation (when, where, whether resumed) to the manifest's history."""
        manifest = self.read_manifest(self.root)
        session = {"started": _now(), "executor": executor, "resumed": resumed}
        manifest["sessions"] = [*manifest.get("sessions", []), session]
        self._write_manifest(manifest)

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, json.dumps(manifest, indent=1).encode())

    # ------------------------------------------------------------------ summary
    def build_summary(self) -> Path | None:
        """Concatenate every finished run's summary into summary.parquet, in run order.

        Reads SUMMARY_BATCH files at a time (bounded memory, one row group per batch); None,
        and no file, if no run has finished.
        """
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        paths = sorted(self.runs_dir.glob("*.parquet"))
        target = self.root / SUMMARY
        if not paths:
            target.unlink(missing_ok=True)
            return None
        schema = pq.read_schema(paths[0])
        with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, len(paths), SUMMARY_BATCH):
                batch = [str(p) for p in paths[start : start + SUMMARY_BATCH]]
                writer.write_table(ds.dataset(batch, schema=schema).to_table())
        return target

    def summary_is_current(self) -> bool:
        """True if summary.parquet exists and no run file is newer."""
        target = self.root / SUMMARY
        if not target.exists():
            return False
        built = target.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns <= built for p in self.runs_dir.glob("*.parquet"))


def read_table(path: Path) -> Any:
    """A Parquet file as a DataFrame; a StoreError naming it if it cannot be read."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StoreError(f"{path} cannot be read as Parquet ({reason})") from None


def _changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two nested dicts (for messages)."""
    changed = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_fields(a, b, f"{name}.")
        elif a != b:
            changed.append(name)
    return changed
