"""Line numbers for rules-file errors: `Locator` indexes the text once; `err` and `syntax_error`
make the `line N: …` messages the admin editor shows."""

from __future__ import annotations

import re
import tomllib


class Locator:
    """Finds the line a semantic error belongs to (tomllib gives positions only for syntax errors).

    The text is indexed once (section headers, and for each section the lines of its keys and the
    first line mentioning each quoted string), so finding a line costs a dictionary look-up: the
    validation of a mined file with thousands of keywords stays linear in the file's size."""

    _HEAD = re.compile(r"^\s*\[\[?\s*([^\]#]*?)\s*\]\]?")
    _KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.-]+)\s*=')
    _QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.heads: dict[str, list[int]] = {}  # header name -> lines ([[x]] repeats)
        self.section_of: list[int] = [0] * (len(self.lines) + 2)  # line -> line of its header
        self.keys: dict[tuple[int, str], int] = {}  # (header line, key or quoted word) -> first line
        head = 0
        for i, line in enumerate(self.lines, 1):
            m = self._HEAD.match(line)
            if m and not self._KEY.match(line):
                name = re.sub(r"\s*\.\s*", ".", m.group(1)).replace('"', "").replace("'", "")
                self.heads.setdefault(name, []).append(i)
                head = i
            self.section_of[i] = head
            k = self._KEY.match(line)
            if k:
                self.keys.setdefault((head, k.group(1).strip('"')), i)
                self.keys.setdefault((head, k.group(1)), i)
            for q in self._QUOTED.findall(line):
                self.keys.setdefault((head, q), i)
                self.keys.setdefault((head, f'"{q}"'), i)

    def section(self, *names: str) -> int:
        """1-based line of the header `[a.b]` / `[[a.b]]` (quoted or bare keys), else 0."""
        lines = self.heads.get(".".join(names))
        return lines[0] if lines else 0

    def key(self, start: int, needle: str) -> int:
        """The line of key (or quoted word) `needle` in the section of line `start`, else `start`."""
        start = max(start, 1)
        head = self.section_of[start] if start < len(self.section_of) else 0
        return self.keys.get((head, needle), self.keys.get((head, needle.strip('"')), start))

    def nth_section(self, n: int, *names: str) -> int:
        lines = self.heads.get(".".join(names), [])
        return lines[n] if n < len(lines) else self.section(*names[:-1])


def err(line: int, msg: str) -> ValueError:
    return ValueError(f"line {max(line, 1)}: {msg}")


def syntax_error(e: tomllib.TOMLDecodeError) -> ValueError:
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
    if m:
        msg = str(e)[: m.start()].strip()
        return ValueError(f"line {m.group(1)}: {msg} (column {m.group(2)})")
    m = re.search(r"\(at end of document\)", str(e))
    return ValueError(f"line 0: {str(e)}" if not m else f"line end: {str(e)}")
