"""The REST handlers call read queries (`files.queries`, `claims.queries`, ...), never SQL.

DESIGN.md's layout: "REST by resource (handlers call read queries, never SQL)". A handler
that needs a new number adds a query to the module of its table.
"""

from __future__ import annotations

import re
from pathlib import Path

import cacherr.api

SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|execute|executemany|fetchall|fetchone)\b")


def test_no_handler_module_holds_sql() -> None:
    root = Path(cacherr.api.__file__).parent
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert found == []
