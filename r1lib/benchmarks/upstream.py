"""Protocol text read verbatim from a benchmark's pinned upstream code, never retyped into this project.

Some benchmarks keep their judge, attacker and victim prompts inside their Python modules rather
than in data files (CyberSecEval: ``mitre_benchmark.py``, ``multiturn_phishing_benchmark.py`` ...).
Those modules are registered as pinned sources like any dataset (mirror first, else downloaded at
the pinned commit, checksum verified; see :mod:`r1lib.benchmarks.sources`) and parsed here with
:mod:`ast` — never imported or executed. :class:`UpstreamModule` hands out

- module constants (``constant``): strings, numbers, lists such as refusal regexes;
- ``str.format`` templates held in a constant (``format_template``);
- the f-string inside a named function or method that contains a given phrase (``fstring``), e.g.
  the attacker system message in ``Attacker.get_system_message``;
- a plain string literal inside a function (``string``), a literal assigned to a local name
  (``local``) and the literal value of a keyword argument of a call (``call_keyword``).

A :class:`Template` renders with the values the upstream code would put in its holes. Its holes are
the upstream expressions, evaluated over the given values only: names, ``self.attribute`` (given
by attribute name) and ``mapping[key]`` with both names given; anything else is refused, so a
changed upstream file fails loudly instead of rendering something else.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from r1lib.benchmarks.sources import FIXTURE_NOTE, DataFiles, FileSource
from r1lib.core.errors import UserError


@dataclass(frozen=True, eq=False)
class Template:
    """Upstream prompt text with holes: literal pieces and the expressions that fill them.

    ``origin`` cites where it was read (repository@commit/path and the function or constant).
    """

    pieces: tuple[str | ast.expr, ...]
    origin: str

    @property
    def fields(self) -> tuple[str, ...]:
        """The hole expressions as source text, in order (e.g. ``self.goal``, ``prompts[attribute]``)."""
        return tuple(ast.unparse(p) for p in self.pieces if not isinstance(p, str))

    @property
    def text(self) -> str:
        """The template with each hole shown as ``{expression}``; for version hashes and display."""
        return "".join(p if isinstance(p, str) else "{" + ast.unparse(p) + "}" for p in self.pieces)

    def render(self, **values: Any) -> str:
        """The text upstream would send, with every hole filled from ``values``."""
        return "".join(p if isinstance(p, str) else str(self._evaluate(p, values)) for p in self.pieces)

    def fill(self, *values: Any) -> str:
        """The text with its holes filled in order by ``values`` (for templates whose hole names vary)."""
        holes = sum(not isinstance(p, str) for p in self.pieces)
        if len(values) != holes:
            raise UserError(f"{self.origin}: the template has {holes} hole(s), {len(values)} value(s) given")
        given = iter(values)
        return "".join(p if isinstance(p, str) else str(next(given)) for p in self.pieces)

    def _evaluate(self, node: ast.expr, values: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return self._value(node.id, values)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            return self._value(node.attr, values)
        if isinstance(node, ast.Subscript):
            return self._evaluate(node.value, values)[self._evaluate(node.slice, values)]
        raise UserError(f"{self.origin}: unsupported expression {ast.unparse(node)!r} in an upstream template; "
                        "the pinned upstream file is not the one this project reads")

    def _value(self, name: str, values: Mapping[str, Any]) -> Any:
        if name not in values:
            raise UserError(f"{self.origin}: no value given for {name!r} (the template's holes: "
                            f"{', '.join(self.fields)})")
        return values[name]


class UpstreamModule:
    """One pinned upstream Python module, parsed (never executed) to read its protocol text."""

    def __init__(self, source: FileSource, files: DataFiles | None = None):
        files = files or DataFiles()
        self.source = source
        self.tree = _parse(str(files.path(source)))
        #: The sha256 the parsed file was verified against (a fixture's own in fixture mode).
        self.sha256 = files.pinned_sha256(source) or ""
        self.fixture = files.fixture(source) is not None

    @property
    def origin(self) -> str:
        """``repository@commit/path`` of the module; a fixture stand-in says that it is one."""
        upstream = f"{self.source.repo}@{(self.source.revision or 'main')[:12]}/{self.source.path}"
        return f"FIXTURE stand-in ({FIXTURE_NOTE}) for {upstream}" if self.fixture else upstream

    def constant(self, name: str) -> Any:
        """The literal value of a module-level assignment ``NAME = ...``."""
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return _literal(node.value, f"{self.origin}:{name}")
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
                return _literal(node.value, f"{self.origin}:{name}")
        raise self._missing(f"module constant {name}")

    def format_template(self, name: str) -> Template:
        """A module string constant used with ``str.format``, as a :class:`Template`."""
        text = self.constant(name)
        pieces: list[str | ast.expr] = []
        for literal, field, spec, conversion in string.Formatter().parse(text):
            pieces.append(literal)
            if field is not None:
                if spec or conversion:
                    raise self._missing(f"a plain {{field}} in {name} (found a format spec)")
                pieces.append(ast.Name(id=field))
        return Template(tuple(p for p in pieces if p != ""), f"{self.origin}:{name}")

    def fstring(self, function: str, containing: str, *, alike: bool = False) -> Template:
        """The one f-string inside ``function`` (``name`` or ``Class.method``) whose text contains
        ``containing``; with ``alike``, several are allowed when their literal text is the same (the
        first is returned: use :meth:`Template.fill`)."""
        node = self._one(function, containing, ast.JoinedStr, alike=alike)
        pieces: list[str | ast.expr] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                pieces.append(str(part.value))
            elif isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None:
                pieces.append(part.value)
            else:
                raise self._missing(f"a plain f-string in {function} (found a conversion or format spec)")
        return Template(tuple(pieces), f"{self.origin}:{function}")

    def string(self, function: str, containing: str, *, alike: bool = False) -> str:
        """The one plain string literal inside ``function`` that contains ``containing`` (with
        ``alike``, several equal ones are allowed)."""
        return self._one(function, containing, ast.Constant, alike=alike).value

    def local(self, function: str, name: str) -> Any:
        """The literal value assigned to the local name ``name`` inside ``function``."""
        for node in ast.walk(self._function(function)):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return _literal(node.value, f"{self.origin}:{function}.{name}")
        raise self._missing(f"local {name} in {function}")

    def call_keyword(self, function: str, containing: str, keyword: str) -> Any:
        """The literal value of ``keyword=`` in the call inside ``function`` whose arguments contain ``containing``."""
        for node in ast.walk(self._function(function)):
            if isinstance(node, ast.Call) and any(_contains(n, containing) for n in ast.walk(node)):
                for kw in node.keywords:
                    if kw.arg == keyword:
                        return _literal(kw.value, f"{self.origin}:{function}({keyword}=)")
        raise self._missing(f"a call with {keyword}= containing {containing!r} in {function}")

    def _function(self, path: str) -> ast.AST:
        scope: list[ast.stmt] = self.tree.body
        found: ast.AST | None = None
        for part in path.split("."):
            found = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                          and n.name == part), None)
            if found is None:
                raise self._missing(f"function {path}")
            scope = found.body
        assert found is not None
        return found

    def _one(self, function: str, containing: str, kind: type, *, alike: bool = False) -> Any:
        matches = [n for n in ast.walk(self._function(function)) if isinstance(n, kind) and _contains(n, containing)
                   and (kind is not ast.Constant or isinstance(n.value, str))]
        if kind is ast.Constant:  # a phrase inside an f-string is not a plain string literal
            inside = {id(v) for n in ast.walk(self._function(function)) if isinstance(n, ast.JoinedStr)
                      for v in n.values}
            matches = [n for n in matches if id(n) not in inside]
        literals = {tuple(v.value for v in n.values if isinstance(v, ast.Constant)) if kind is ast.JoinedStr
                    else n.value for n in matches}
        if alike and matches and len(literals) == 1:
            return matches[0]
        if len(matches) != 1:
            raise self._missing(f"exactly one {kind.__name__} containing {containing!r} in {function} "
                                f"(found {len(matches)})")
        return matches[0]

    def _missing(self, what: str) -> UserError:
        return UserError(f"{self.origin}: expected {what}; the file is not the pinned upstream version "
                         f"(check its sha256, or run `r1lib data fetch {self.source.benchmark}`)")


def _contains(node: ast.AST, phrase: str) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return phrase in node.value
    if isinstance(node, ast.JoinedStr):
        return any(phrase in v.value for v in node.values if isinstance(v, ast.Constant))
    return False


def _literal(node: ast.expr | None, where: str) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        raise UserError(f"{where}: not a literal value; the file is not the pinned upstream version") from None


@cache
def _parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read(), filename=path)
