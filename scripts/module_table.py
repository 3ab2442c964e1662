"""The module table of docs/architecture.md, made from each module's docstring (its first
sentence), so the table always matches the tree.

    python scripts/module_table.py           # print the table
    python scripts/module_table.py --write   # rewrite it in docs/architecture.md
    python scripts/module_table.py --check   # exit 1 when docs/architecture.md is not current
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT / "rpochaos"
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- modules:begin -->", "<!-- modules:end -->"


def first_sentence(doc: str) -> str:
    text = " ".join(doc.split("\n\n")[0].split())
    m = re.search(r"(?<!\be\.g)(?<!\bi\.e)\.(\s|$)", text)
    out = text[: m.start() + 1] if m else text
    if len(out) > 170:
        out = out[:170].rsplit(" ", 1)[0] + " …"
    return out.replace("|", "\\|")


def table() -> str:
    rows = ["| module | what it is |", "|---|---|"]
    for path in sorted(CODE.rglob("*.py")):
        source = path.read_text()
        if not source.strip():
            continue
        doc = ast.get_docstring(ast.parse(source)) or ""
        name = path.relative_to(ROOT).as_posix()
        rows.append(f"| `{name}` | {first_sentence(doc)} |")
    return "\n".join(rows)


def current(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    if "--write" in argv:
        DOC.write_text(current(text))
        return 0
    if "--check" in argv:
        if current(text) != text:
            print(f"{DOC} is not current: run python scripts/module_table.py --write")
            return 1
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
