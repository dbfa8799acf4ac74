"""Fetching vessim's datasets into the cache (offline, from a tar.gz built here) and the readers."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import TraceError
from greenhop.traces import catalog, emissions, vessim_data
from greenhop.traces.vessim_data import FetchError

SOLCAST_ACTUAL = ("datetime,Berlin,Sydney\n2022-06-08 00:05:00,0.0,0.5\n"
                  "2022-06-08 00:10:00,0.1,0.6\n2022-06-08 00:15:00,0.2,0.7\n")
SOLCAST_FORECAST = ("datetime,period_end,Berlin,Sydney\n"
                    "2022-06-08 00:00:00,2022-06-08 00:05:00,0.0,0.4\n"
                    "2022-06-08 00:00:00,2022-06-08 00:10:00,0.1,0.5\n")
WATTTIME_ACTUAL = "time,Caiso_North\n2023-06-08 00:00:00,1000.0\n2023-06-08 00:05:00,500.0\n"
WATTTIME_FORECAST = ("request_time,forecast_time,Caiso_North\n"
                     "2023-06-08 00:00:00,2023-06-08 00:05:00,900.0\n")


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def make_sdist(folder: Path, members: dict[str, bytes]) -> Path:
    path = folder / "vessim-0.13.1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"vessim-0.13.1/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def full_sdist(folder: Path) -> Path:
    return make_sdist(folder, {
        "datasets/solcast2022_global.zip": _zip({
            "solcast2022_global_actual.csv": SOLCAST_ACTUAL,
            "solcast2022_global_forecast.csv": SOLCAST_FORECAST}),
        "datasets/watttime2023_caiso-north.zip": _zip({
            "watttime2023_caiso-north_actual.csv": WATTTIME_ACTUAL,
            "watttime2023_caiso-north_forecast.csv": WATTTIME_FORECAST}),
        "README.md": b"vessim",
    })


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("GREENHOP_CACHE_DIR", str(root))
    return root


def test_unpack_writes_files_and_provenance(tmp_path, cache) -> None:
    sdist = full_sdist(tmp_path)
    folder = vessim_data.unpack_vessim_sdist(sdist, "solcast2022_global")
    assert folder == cache / "vessim-0.13.1" / "solcast2022_global"
    assert sorted(p.name for p in folder.iterdir()) == [
        "provenance.json", "solcast2022_global_actual.csv", "solcast2022_global_forecast.csv"]
    record = json.loads((folder / "provenance.json").read_text())
    assert record["dataset"] == "solcast2022_global"
    assert record["archive"] == "vessim-0.13.1.tar.gz" and len(record["archive_sha256"]) == 64
    assert "Solcast" in record["terms"] and record["interval_label"] == "period end"
    assert record["obtained_with"] == "pip download --no-deps --no-binary :all: vessim==0.13.1"
    assert vessim_data.is_present("solcast2022_global")
    assert not vessim_data.is_present("watttime2023_caiso-north")


def test_fetch_uses_the_injected_downloader_once(tmp_path, cache) -> None:
    calls = []

    def fake_download(dest: Path) -> Path:
        calls.append(dest)
        return full_sdist(dest)

    vessim_data.fetch_dataset("watttime2023_caiso-north", downloader=fake_download)
    vessim_data.fetch_dataset("watttime2023_caiso-north", downloader=fake_download)
    assert len(calls) == 1  # present: no second download
    vessim_data.fetch_dataset("watttime2023_caiso-north", downloader=fake_download, force=True)
    assert len(calls) == 2 and not calls[0].exists()  # the temporary folder is removed


def test_a_cache_that_cannot_be_written_is_named_before_any_download(tmp_path,
                                                                     monkeypatch) -> None:
    """A GREENHOP_CACHE_DIR that is a file: one error naming it, and no download (it
    was a NotADirectoryError traceback after the download)."""
    blocker = tmp_path / "cachefile"
    blocker.write_text("mine\n")
    monkeypatch.setenv("GREENHOP_CACHE_DIR", str(blocker))
    calls = []
    with pytest.raises(vessim_data.FetchError) as info:
        vessim_data.fetch_dataset("solcast2022_global", downloader=calls.append)
    assert calls == [] and "$GREENHOP_CACHE_DIR" in str(info.value)
    assert str(blocker) in str(info.value) and "Not a directory" in str(info.value)
    assert blocker.read_text() == "mine\n"  # left as it was


def test_readers_convert_labels_and_units(tmp_path, cache) -> None:
    sdist = full_sdist(tmp_path)
    vessim_data.unpack_vessim_sdist(sdist, "solcast2022_global")
    vessim_data.unpack_vessim_sdist(sdist, "watttime2023_caiso-north")
    data = vessim_data.read_solcast("solcast2022_global", "Sydney")
    actual = data["actual_w_per_kwp"]
    assert actual.index[0] == pd.Timestamp("2022-06-08 00:00", tz="UTC")  # period end -> start
    np.testing.assert_allclose(actual.to_numpy(), [500.0, 600.0, 700.0])
    forecast = data["forecast_w_per_kwp"]
    assert forecast.index.names == ["issued_at", "target_start"]
    assert forecast.iloc[1] == pytest.approx(500.0)
    carbon = vessim_data.read_watttime_caiso_north()
    assert carbon["actual_g_per_kwh"].iloc[0] == pytest.approx(453.59237)
    assert carbon["actual_g_per_kwh"].index[0] == pd.Timestamp("2023-06-08", tz="UTC")
    assert carbon["forecast_g_per_kwh"].iloc[0] == pytest.approx(900 * 0.45359237)


@pytest.mark.parametrize(("members", "message"), [
    ({"README.md": b"x"}, "has no datasets/solcast2022_global.zip"),
    ({"datasets/solcast2022_global.zip": b"not a zip"}, "is corrupt"),
    ({"datasets/solcast2022_global.zip": _zip({"solcast2022_global_actual.csv": "a"})},
     "lacks solcast2022_global_forecast.csv"),
])
def test_malformed_archives_are_reported(tmp_path, cache, members, message) -> None:
    with pytest.raises(FetchError, match=message):
        vessim_data.unpack_vessim_sdist(make_sdist(tmp_path, members), "solcast2022_global")


@pytest.mark.parametrize(("file", "text", "why"), [
    ("solcast2022_global_actual.csv", "datetime,Berlin\n2022-06-08 00:05:00,abc\n",
     "could not convert"),
    ("solcast2022_global_actual.csv", "", "No columns to parse"),
    ("solcast2022_global_actual.csv", "datetime\n2022-06-08 00:05:00\n", "no value columns"),
    ("solcast2022_global_actual.csv", "datetime,Berlin\nyesterday,0.1\n", "yesterday"),
    ("solcast2022_global_forecast.csv", "datetime,period_end,Berlin\n"
     "2022-06-08 00:00:00,soon,0.1\n", "soon"),
])
def test_a_damaged_cached_file_is_named_with_the_command_that_fetches_it_again(
        tmp_path, cache, file, text, why) -> None:
    folder = vessim_data.unpack_vessim_sdist(full_sdist(tmp_path), "solcast2022_global")
    (folder / file).write_text(text)
    with pytest.raises(TraceError) as info:
        vessim_data.read_solcast("solcast2022_global", "Berlin")
    message = str(info.value)
    assert message.startswith(f"{folder / file}: the cached dataset 'solcast2022_global' "
                              "is damaged (")
    assert why in message
    assert message.endswith("fetch it again: greenhop data fetch solcast2022_global --force")


def test_times_with_an_offset_or_z_are_read_as_utc(tmp_path, cache) -> None:
    folder = vessim_data.unpack_vessim_sdist(full_sdist(tmp_path), "solcast2022_global")
    (folder / "solcast2022_global_actual.csv").write_text(
        "datetime,Berlin\n2022-06-08T00:05:00Z,0.1\n2022-06-08T02:10:00+02:00,0.2\n")
    actual = vessim_data.read_solcast("solcast2022_global", "Berlin")["actual_w_per_kwp"]
    assert list(actual.index) == [pd.Timestamp("2022-06-08 00:00", tz="UTC"),
                                  pd.Timestamp("2022-06-08 00:05", tz="UTC")]
    np.testing.assert_allclose(actual.to_numpy(), [100.0, 200.0])


def test_a_file_that_is_not_a_tarball_is_reported(tmp_path, cache) -> None:
    bogus = tmp_path / "vessim-0.13.1.tar.gz"
    bogus.write_bytes(b"plain text")
    with pytest.raises(FetchError, match=r"not a readable \.tar\.gz"):
        vessim_data.unpack_vessim_sdist(bogus, "solcast2022_global")


def test_absent_data_names_the_command_to_run(cache) -> None:
    with pytest.raises(TraceError, match="run: greenhop data fetch solcast2022_germany"):
        vessim_data.read_solcast("solcast2022_germany", "Berlin")
    with pytest.raises(TraceError, match="greenhop data fetch watttime2023_caiso-north"):
        vessim_data.read_watttime_caiso_north()


def test_unknown_dataset_and_city(tmp_path, cache) -> None:
    with pytest.raises(TraceError, match="unknown dataset 'solcast2030'; fetchable datasets"):
        vessim_data.fetch_dataset("solcast2030", downloader=full_sdist)
    with pytest.raises(TraceError, match="is not a Solcast dataset"):
        vessim_data.read_solcast("watttime2023_caiso-north", "Berlin")
    vessim_data.unpack_vessim_sdist(full_sdist(tmp_path), "solcast2022_global")
    with pytest.raises(TraceError, match=r"no city .Atlantis.*cities: Berlin, Sydney"):
        vessim_data.read_solcast("solcast2022_global", "Atlantis")


def test_catalog_lists_every_dataset_with_presence(cache) -> None:
    names = [d.name for d in catalog.datasets()]
    assert {"tmy3-greensboro", "tmy2-miami", "mosaik-emissions-de",
            "solcast2022_global", "watttime2023_caiso-north"} <= set(names)
    present = {d.name: catalog.is_present(d) for d in catalog.datasets()}
    assert present["tmy3-greensboro"] and present["linke-turbidity"]
    assert present["caiso-curtailment"]  # packaged: listed and here, as docs/traces.md says
    assert not present["solcast2022_global"]  # empty cache in this test


@pytest.mark.skipif(not emissions.is_present(), reason="mosaik-emissions is not installed")
def test_german_carbon_intensity_is_hourly_and_plausible() -> None:
    ci = emissions.read_germany_carbon_intensity(2023)
    assert len(ci) == 8760 and str(ci.index.tz) == "UTC"
    assert 100 < ci.mean() < 700
    with pytest.raises(TraceError, match="years: 2021, 2022, 2023, 2024"):
        emissions.read_germany_carbon_intensity(2019)
    with pytest.raises(TraceError, match="unknown scope 'total'"):
        emissions.read_germany_carbon_intensity(2023, scope="total")


def test_real_solcast_data_when_the_cache_has_it() -> None:
    if not vessim_data.is_present("solcast2022_global"):
        pytest.skip("run 'greenhop data fetch solcast2022_global' to test the real data")
    actual = vessim_data.read_solcast("solcast2022_global", "Berlin")["actual_w_per_kwp"]
    assert len(actual) == 8352 and actual.min() >= 0 and actual.max() <= 1000
