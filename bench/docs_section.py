"""Write one benchmark's section of docs/benchmarks.md, between its own markers."""

from __future__ import annotations

from pathlib import Path


def update_section(path: Path, name: str, section: str) -> None:
    """Replace only the `<!-- name:start -->` ... `<!-- name:end -->` block (appended when missing);
    every other section stays as it is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{section}{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
