"""Every repository file the code, docs, benchmarks and examples mention exists.

A mention is a path under one of the repository's folders (``docs/design.md``,
``src/greenhop/sim/engine.py``, ``benchmarks/bench_model.py``, ``greenhop/sim/energy.py``
for the package), a relative Markdown link (``[x](scenarios.md)``), or a bare Markdown
file name (``nomenclature.md``). Citations of the design document by section
(``docs/design.md section 4``) must name a section that exists. And the design
document cited is the repository's own: no file outside it is cited.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "docs", "benchmarks", "examples")
SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml"}
SKIP_PARTS = {"__pycache__", ".venv", ".git", "node_modules"}
#: the one design document; the brief this project started from is not part of it
OUTSIDE_DESIGN = "DESIGN" + ".md"
DESIGN = ROOT / "docs" / "design.md"

_EXT = r"(?:py|md|toml|csv|json|txt|html|png|svg|ya?ml|sh|cfg)"
# A path under a top-level folder of the repository (or the package inside src/).
_TOP = r"(?:src|docs|benchmarks|examples|tests|greenhop)"
PATH_RE = re.compile(rf"(?<![\w./-]){_TOP}/[\w./-]*\w\.{_EXT}\b")
# A relative Markdown link target: [text](target) or [text](target#anchor).
LINK_RE = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)\s]*)?\)")
# A bare Markdown file name.
MD_RE = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
SECTION_RE = re.compile(r"docs/design\.md,?\s+sections?\s+(\d+)")


def repo_files() -> list[Path]:
    """The text files of the scanned folders, plus the top-level README."""
    out = [ROOT / "README.md"]
    for top in SCANNED:
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and p.suffix in SUFFIXES and not SKIP_PARTS & set(p.parts) \
                    and not any(part.endswith(".egg-info") for part in p.parts):
                out.append(p)
    return out


def _placeholder(ref: str) -> bool:
    """A pattern or an example, not a file: ``docs/x.md``-style names with wildcards."""
    return any(c in ref for c in "*<>{}$") or "..." in ref


def _exists(ref: str, source: Path) -> bool:
    ref = ref.rstrip(".")
    bases = [ROOT, ROOT / "src", source.parent]
    return any((base / ref).exists() for base in bases)


_ALL_MD: set[str] | None = None


def _md_names() -> set[str]:
    global _ALL_MD
    if _ALL_MD is None:
        _ALL_MD = {p.name for p in ROOT.rglob("*.md") if not SKIP_PARTS & set(p.parts)}
    return _ALL_MD


def broken_references(text: str, source: Path) -> list[str]:
    """The mentions in ``text`` (the content of ``source``) that name no existing file."""
    bad: list[str] = []
    for m in PATH_RE.finditer(text):
        ref = m.group(0)
        if not _placeholder(ref) and not _exists(ref, source):
            bad.append(ref)
    if source.suffix == ".md":
        for m in LINK_RE.finditer(text):
            ref = m.group(1)
            if not _placeholder(ref) and not (source.parent / ref).exists():
                bad.append(ref)
    for m in MD_RE.finditer(text):
        name = m.group(1)
        if name != OUTSIDE_DESIGN and name not in _md_names():
            bad.append(name)
    return sorted(set(bad))


def missing_sections(text: str) -> list[str]:
    """Section numbers cited as ``docs/design.md section N`` with no ``## N.`` heading."""
    headings = set(re.findall(r"^## (\d+)\. ", DESIGN.read_text(encoding="utf-8"), re.M))
    return sorted({n for n in SECTION_RE.findall(text) if n not in headings})


FILES = repo_files()


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_mentioned_repository_file_exists(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    assert broken_references(text, path) == [], f"{_id(path)} mentions missing files"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_design_sections_cited_exist(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    assert missing_sections(text) == [], f"{_id(path)} cites sections docs/design.md lacks"


def test_no_file_outside_the_repository_is_cited_as_the_design():
    scanned = FILES + sorted((ROOT / "tests").rglob("*.py"))
    citing = [_id(p) for p in scanned
              if OUTSIDE_DESIGN in p.read_text(encoding="utf-8", errors="replace")]
    assert citing == []


def test_the_design_document_has_its_sections():
    text = DESIGN.read_text(encoding="utf-8")
    for n, title in ((2, "Architecture"), (3, "Feasibility model"), (4, "Simulator contract"),
                     (5, "Energy conventions"), (6, "Units and names"), (7, "Errors")):
        assert f"## {n}. {title}" in text


# ------------------------------------------------------------------ the check checks


def test_the_check_finds_broken_references(tmp_path):
    doc = tmp_path / "guide.md"
    text = ("See docs/design.md and docs/no-such-page.md, `src/greenhop/sim/nothing.py`,\n"
            "[a link](missing.md), [an anchor](#here), https://example.org/docs/x.md,\n"
            "`benchmarks/bench_*.py` and greenhop/model/feasibility.py and unknown-file.md.")
    assert broken_references(text, doc) == sorted(
        ["docs/no-such-page.md", "src/greenhop/sim/nothing.py", "missing.md",
         "unknown-file.md"])


def test_the_check_finds_a_missing_section():
    assert missing_sections("as in docs/design.md section 4 and docs/design.md section 42") \
        == ["42"]


def test_the_check_finds_an_outside_design_citation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text(f'"""See {OUTSIDE_DESIGN} section 3."""\n', encoding="utf-8")
    assert OUTSIDE_DESIGN in bad.read_text(encoding="utf-8")
