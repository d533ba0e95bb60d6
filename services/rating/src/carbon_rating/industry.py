"""GB/T 4754 industry classes and their parents (pure).

Codes are a section letter, then 2, 3 and 4 digits: C2611 (class, 小类) ->
C261 (group, 中类) -> C26 (division, 大类) -> C (section, 门类) -> "*"
(all industries, the last-resort benchmark population).
"""

from __future__ import annotations

import re

ALL = "*"
_CODE = re.compile(r"^[A-T](\d{2}(\d(\d)?)?)?$")
# Prefix lengths of the levels, most specific first.
LEVEL_LENGTHS = (5, 4, 3, 1)


def is_valid(code: str) -> bool:
    return bool(_CODE.match(code))


def chain(code: str) -> tuple[str, ...]:
    """The class itself, then each parent, ending with ALL: C2611 -> (C2611, C261, C26, C, *)."""
    code = (code or "").strip().upper()
    if not is_valid(code):
        return (ALL,)
    return (*[code[:n] for n in LEVEL_LENGTHS if n <= len(code)], ALL)


def at_level(code: str, length: int) -> str | None:
    """The class of `code` at a level (prefix length), or None when the code is less specific."""
    code = (code or "").strip().upper()
    if not is_valid(code):
        return ALL if length == 0 else None
    if length == 0:
        return ALL
    return code[:length] if len(code) >= length else None
