"""What a screen reader or an accessibility checker needs from a report PDF: veraPDF's PDF/UA-1 verdict (the
judge: `make verapdf`), and, read with pikepdf (qpdf) and poppler's pdfinfo/pdffonts, a structure tree, /Lang, a
displayed title, headings, tables and figures tagged, every figure with Alt text, every font embedded."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "bin"


@dataclass
class Structure:
    tags: dict[str, int] = field(default_factory=dict)  # structure type -> count
    figure_alts: list[str] = field(default_factory=list)
    table_headers: int = 0


def _walk(node: object, out: Structure) -> None:
    if isinstance(node, pikepdf.Array):
        for item in node:
            _walk(item, out)
        return
    if not isinstance(node, pikepdf.Dictionary):
        return
    kind = node.get("/S")
    if kind is not None:
        name = str(kind).lstrip("/")
        out.tags[name] = out.tags.get(name, 0) + 1
        if name == "Figure":
            out.figure_alts.append(str(node.get("/Alt", "")))
    kids = node.get("/K")
    if kids is not None:
        _walk(kids, out)


def structure(pdf: bytes) -> Structure:
    out = Structure()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        _walk(document.Root.StructTreeRoot.get("/K"), out)
    return out


def assert_tagged(pdf: bytes, lang: str, tmp_path: Path) -> Structure:
    """The PDF/UA basics; returns the structure for content checks (headings, figures' Alt text)."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        root = document.Root
        assert "/StructTreeRoot" in root, "no structure tree: the PDF is not tagged"
        assert bool(root.MarkInfo.Marked) is True
        assert str(root.Lang) == lang
        assert bool(root.ViewerPreferences.DisplayDocTitle) is True
        assert str(document.docinfo.get("/Title", "")).strip(), "no document title"
        with document.open_metadata() as xmp:
            assert xmp.get("pdfuaid:part") == "1", "no PDF/UA-1 identification in the XMP metadata"
    found = structure(pdf)
    for tag in ("H1", "H2", "P", "Table", "TR", "TH", "TD", "Figure"):
        assert found.tags.get(tag), (tag, found.tags)
    assert all(alt.strip() for alt in found.figure_alts), found.figure_alts  # every figure has Alt text
    path = tmp_path / "tagged.pdf"
    path.write_bytes(pdf)
    info = subprocess.run([_tool("pdfinfo"), str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M), info  # poppler reads it as tagged too
    fonts = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = [re.search(r"\s(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", line) for line in fonts.splitlines()[2:]]
    assert "WenQuanYi" in fonts and rows and all(r and r.group(1) == "yes" for r in rows), fonts  # all embedded
    verapdf_ua1(path)
    return found


def verapdf_ua1(path: Path) -> None:
    """veraPDF's PDF/UA-1 (ISO 14289-1) validation passes; else the failed rules, each with its clause."""
    run = subprocess.run(
        [_tool("verapdf", "make verapdf"), "--flavour", "ua1", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    (result,) = report["report"]["jobs"][0]["validationResult"]
    failed = [
        f"{rule['clause']}-{rule['testNumber']} {rule['description']} ({rule['failedChecks']}x)"
        for rule in result["details"]["ruleSummaries"]
        if rule["status"] == "failed"
    ]
    assert result["compliant"] is True and not failed, failed


def _tool(name: str, installer: str = "make chromium") -> str:
    found = shutil.which(name) or next((str(p) for p in (TOOLS / name,) if p.exists()), None)
    assert found, f"{name} is missing: run `{installer}`"
    return found
