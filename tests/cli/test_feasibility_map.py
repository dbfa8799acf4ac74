"""``greenhop feasibility-map`` and the plotting module behind it."""

from __future__ import annotations

from clikit import run


def test_png_map_in_a_new_folder(capsys, tmp_path) -> None:
    out = tmp_path / "deep" / "er" / "map.png"
    code, stdout, err = run(capsys, "feasibility-map", "--out", str(out))
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
    assert str(out) in stdout


def test_svg_map_with_options(capsys, tmp_path) -> None:
    out = tmp_path / "map.svg"
    code, _, err = run(capsys, "feasibility-map", "--out", str(out), "--windows", "30min,3h",
                       "--sizes", "500MB:2TB", "--bandwidths", "1Gbps:400Gbps", "--swap-axes",
                       "--alpha", "0.2", "--ideal", "--loss", "1e-6", "--rtt", "30ms")
    assert code == 0, err
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("7B", "70B", "W = 30 min", "W = 3 h"):
        assert label in text
