"""Real 5-minute Solcast 2022 PV and WattTime CAISO-North 2023 carbon intensity, with forecasts.

Provenance: the vessim project (MIT licensed, https://github.com/dos-group/vessim)
ships these datasets in the ``datasets/`` folder of its source distribution;
``greenhop data fetch NAME`` downloads the vessim 0.13.1 source distribution
with pip (``pip download --no-deps --no-binary :all: vessim==0.13.1``),
unpacks only the named dataset into the user cache
(``$GREENHOP_CACHE_DIR``, default ``~/.cache/greenhop``) and writes a
``provenance.json`` beside the files (source, version, sha256, terms, time of
fetch). Nothing is committed to greenhop.

Datasets:

* ``solcast2022_global``: PV output normalised to installed capacity [-] for
  Berlin, Cape Town, Hong Kong, Lagos, Mexico City, Mumbai, San Francisco,
  Stockholm, Sydney and São Paulo, 5-minute, 2022-06-08 to 2022-07-07, and the
  forecasts Solcast issued every 5 minutes (13 steps ahead, up to 1 h).
* ``solcast2022_germany``: the same for ten German cities, 2022-07-15 to 2022-08-15.
* ``watttime2023_caiso-north``: WattTime marginal operating emission rate
  (MOER) of CAISO North, 5-minute, 2023-06-08 to 2023-07-08, in lb CO2/MWh,
  with the forecasts issued every 5 minutes.

Interval labelling: Solcast stamps each value with the *end* of its 5-minute
period (vessim back-fills it); WattTime stamps the *start*. Timestamps are UTC.
The readers return interval-start UTC series in canonical units: PV in W per
kWp (the normalised value x 1000) and carbon intensity in gCO2/kWh
(lb/MWh x 0.45359237).

Terms: data provided by Solcast (solcast.com) and WattTime (watttime.org) as
redistributed by vessim for research use; cite them and vessim, and check
their terms before any commercial use.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from greenhop.core.errors import GreenhopError, TraceError

VESSIM_VERSION = "0.13.1"
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; per MWh -> per kWh divides by 1000

VESSIM_DATASETS: dict[str, dict] = {
    "solcast2022_global": {
        "files": ("solcast2022_global_actual.csv", "solcast2022_global_forecast.csv"),
        "what": "Solcast 2022 PV, 10 world cities, 5 min, with issued forecasts",
        "source": "Solcast via vessim 0.13.1 sdist, datasets/solcast2022_global.zip",
        "terms": "Solcast data redistributed by vessim (MIT code) for research; cite Solcast",
        "label": "period end",
    },
    "solcast2022_germany": {
        "files": ("solcast2022_germany_actual.csv", "solcast2022_germany_forecast.csv"),
        "what": "Solcast 2022 PV, 10 German cities, 5 min, with issued forecasts",
        "source": "Solcast via vessim 0.13.1 sdist, datasets/solcast2022_germany.zip",
        "terms": "Solcast data redistributed by vessim (MIT code) for research; cite Solcast",
        "label": "period end",
    },
    "watttime2023_caiso-north": {
        "files": ("watttime2023_caiso-north_actual.csv", "watttime2023_caiso-north_forecast.csv"),
        "what": "WattTime CAISO-North 2023 marginal CO2 (MOER), 5 min, with issued forecasts",
        "source": "WattTime via vessim 0.13.1 sdist, datasets/watttime2023_caiso-north.zip",
        "terms": "WattTime data redistributed by vessim (MIT code) for research; cite WattTime",
        "label": "period start",
    },
}


class FetchError(GreenhopError):
    """Fetching a dataset failed (network, pip, or a malformed archive)."""


def cache_dir() -> Path:
    """The user cache: ``$GREENHOP_CACHE_DIR`` or ``~/.cache/greenhop``."""
    env = os.environ.get("GREENHOP_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "greenhop"


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """Folder of a vessim dataset in the cache."""
    return (root or cache_dir()) / f"vessim-{VESSIM_VERSION}" / name


def _check_name(name: str) -> dict:
    if name not in VESSIM_DATASETS:
        raise TraceError(f"unknown dataset {name!r}; fetchable datasets: "
                         f"{', '.join(VESSIM_DATASETS)}")
    return VESSIM_DATASETS[name]


def is_present(name: str, root: Path | None = None) -> bool:
    """True when every file of dataset ``name`` is in the cache."""
    info = _check_name(name)
    folder = dataset_dir(name, root)
    return all((folder / f).is_file() for f in info["files"])


def unpack_vessim_sdist(sdist_path: Path, name: str, root: Path | None = None) -> Path:
    """Unpack dataset ``name`` from a vessim source distribution into the cache.

    Reads ``<top>/datasets/<name>.zip`` from the ``.tar.gz``, extracts only the
    expected CSV files (by base name, so no path from the archive is trusted)
    and writes ``provenance.json``. Returns the dataset folder.
    """
    info = _check_name(name)
    sdist_path = Path(sdist_path)
    digest = hashlib.sha256(sdist_path.read_bytes()).hexdigest()
    try:
        with tarfile.open(sdist_path, "r:gz") as tar:
            member = next((m for m in tar.getmembers()
                           if m.isfile() and m.name.endswith(f"/datasets/{name}.zip")), None)
            if member is None:
                raise FetchError(f"{sdist_path.name} has no datasets/{name}.zip; is it the "
                                 f"vessim {VESSIM_VERSION} source distribution?")
            blob = tar.extractfile(member).read()  # type: ignore[union-attr]
    except tarfile.TarError as exc:
        raise FetchError(f"{sdist_path.name} is not a readable .tar.gz: {exc}") from exc
    folder = dataset_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = {Path(n).name: n for n in zf.namelist()}
            missing = [f for f in info["files"] if f not in names]
            if missing:
                raise FetchError(f"datasets/{name}.zip lacks {', '.join(missing)}")
            for fname in info["files"]:
                tmp = folder / (fname + ".part")
                tmp.write_bytes(zf.read(names[fname]))
                tmp.replace(folder / fname)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"datasets/{name}.zip in {sdist_path.name} is corrupt: {exc}") from exc
    provenance = {
        "dataset": name,
        "what": info["what"],
        "source": info["source"],
        "archive": sdist_path.name,
        "archive_sha256": digest,
        "obtained_with": f"pip download --no-deps --no-binary :all: vessim=={VESSIM_VERSION}",
        "terms": info["terms"],
        "interval_label": info["label"],
        "files": list(info["files"]),
        "fetched_at_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (folder / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return folder


def pip_download_vessim(dest: Path) -> Path:
    """Download the vessim source distribution into ``dest`` with pip; returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           f"vessim=={VESSIM_VERSION}", "-d", str(dest), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(Path(dest).glob(f"vessim-{VESSIM_VERSION}.tar.gz"))
    if result.returncode != 0 or not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise FetchError(f"pip could not download vessim {VESSIM_VERSION}: "
                         f"{' | '.join(tail) or 'no archive'}; check the network and retry "
                         "'greenhop data fetch'")
    return found[0]


def fetch_dataset(name: str, root: Path | None = None,
                  downloader: Callable[[Path], Path] = pip_download_vessim,
                  force: bool = False) -> Path:
    """Bring dataset ``name`` into the cache (skips the download when present unless ``force``)."""
    _check_name(name)
    if is_present(name, root) and not force:
        return dataset_dir(name, root)
    folder = dataset_dir(name, root)
    try:  # before the download: a cache that cannot be written fails at once
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-check"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        where = "$GREENHOP_CACHE_DIR" if root is None and os.environ.get(
            "GREENHOP_CACHE_DIR") else "the cache"
        raise FetchError(f"{where} {root or cache_dir()}: cannot write {folder} "
                         f"({exc.strerror or exc}); set GREENHOP_CACHE_DIR to a folder "
                         "you can write") from None
    with tempfile.TemporaryDirectory(prefix="greenhop-fetch-") as tmp:
        sdist = downloader(Path(tmp))
        return unpack_vessim_sdist(sdist, name, root)


def _require(name: str) -> Path:
    if not is_present(name):
        raise TraceError(f"dataset {name!r} is not in the cache {dataset_dir(name)}; "
                         f"run: greenhop data fetch {name}")
    return dataset_dir(name)


@functools.lru_cache(maxsize=8)
def _read_csvs(folder: str, files: tuple[str, str], mtime: float) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    """The cached dataset's two tables, checked: ``actual`` indexed by UTC time with one
    numeric column per series, ``forecast`` with the issue and target times (UTC) in its
    first two columns and numeric series after them; a damaged file is a
    :class:`TraceError` that names it."""
    name = Path(folder).name
    actual = _read_table(Path(folder) / files[0], name, time_columns=0)
    forecast = _read_table(Path(folder) / files[1], name, time_columns=2)
    return actual, forecast


def _read_table(path: Path, name: str, time_columns: int) -> pd.DataFrame:
    """One CSV of a cached dataset: its index (``time_columns`` 0) or its first
    ``time_columns`` columns parsed as UTC times, every other column as numbers."""
    try:
        table = pd.read_csv(path, index_col=0 if time_columns == 0 else None)
        if time_columns == 0:
            table.index = _utc(table.index)
        else:
            for column in table.columns[:time_columns]:
                table[column] = _utc(table[column])
        values = table.columns[time_columns:]
        if values.empty or table.empty:
            raise ValueError("no rows or no value columns")
        table[values] = table[values].astype(float)
    except (ValueError, TypeError, IndexError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError, OSError) as exc:
        raise TraceError(f"{path}: the cached dataset {name!r} is damaged "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                         f"fetch it again: greenhop data fetch {name} --force") from None
    return table


def _load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = _require(name)
    files = VESSIM_DATASETS[name]["files"]
    mtime = max((folder / f).stat().st_mtime for f in files)
    return _read_csvs(str(folder), files, mtime)


def _utc(values) -> pd.DatetimeIndex:
    """``values`` as UTC times: naive ISO 8601 stamps are UTC; stamps with an offset or
    ``Z`` are converted to it."""
    return pd.DatetimeIndex(pd.to_datetime(values, format="ISO8601", utc=True))


def read_solcast(dataset: str, city: str) -> dict:
    """Real Solcast PV of ``city`` with its issued forecasts, in W per kWp.

    Returns a dict: ``actual_w_per_kwp`` (Series on the 5-minute interval-start UTC
    index) and ``forecast_w_per_kwp`` (Series with a MultiIndex ``issued_at``,
    ``target_start``: the forecast issued at ``issued_at`` for the interval
    starting at ``target_start``).
    """
    if dataset not in ("solcast2022_global", "solcast2022_germany"):
        raise TraceError(f"{dataset!r} is not a Solcast dataset; use solcast2022_global or "
                         "solcast2022_germany")
    actual, forecast = _load(dataset)
    if city not in actual.columns:
        raise TraceError(f"no city {city!r} in {dataset}; cities: {', '.join(actual.columns)}")
    step = pd.Timedelta(minutes=5)
    act = pd.Series(actual[city].to_numpy(dtype=float) * 1000.0,
                    index=actual.index - step, name="pv_w_per_kwp")
    fc_index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(forecast.iloc[:, 0]), pd.DatetimeIndex(forecast.iloc[:, 1]) - step],
        names=["issued_at", "target_start"])
    fc = pd.Series(forecast[city].to_numpy(dtype=float) * 1000.0, index=fc_index,
                   name="pv_w_per_kwp")
    meta = {"source": VESSIM_DATASETS[dataset]["source"], "unit": "W/kWp",
            "label": "interval start (converted from Solcast period end)"}
    act.attrs.update(meta)
    return {"actual_w_per_kwp": act, "forecast_w_per_kwp": fc}


def read_watttime_caiso_north() -> dict:
    """Real WattTime CAISO-North marginal carbon intensity with forecasts, in gCO2/kWh.

    Returns a dict: ``actual_g_per_kwh`` (Series, 5-minute interval-start UTC) and
    ``forecast_g_per_kwh`` (MultiIndex ``issued_at``, ``target_start``).
    """
    name = "watttime2023_caiso-north"
    actual, forecast = _load(name)
    column = actual.columns[0]
    act = pd.Series(actual[column].to_numpy(dtype=float) * LB_PER_MWH_TO_G_PER_KWH,
                    index=actual.index, name="carbon_g_per_kwh")
    # WattTime forecasts are stamped with the interval they are for (its start).
    fc_index = pd.MultiIndex.from_arrays([pd.DatetimeIndex(forecast.iloc[:, 0]),
                                          pd.DatetimeIndex(forecast.iloc[:, 1])],
                                         names=["issued_at", "target_start"])
    fc = pd.Series(forecast.iloc[:, 2].to_numpy(dtype=float) * LB_PER_MWH_TO_G_PER_KWH,
                   index=fc_index, name="carbon_g_per_kwh")
    act.attrs.update(source=VESSIM_DATASETS[name]["source"], unit="gCO2/kWh",
                     label="interval start")
    return {"actual_g_per_kwh": act, "forecast_g_per_kwh": fc}
