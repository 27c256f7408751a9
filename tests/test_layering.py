"""Who may import whom in labkit, read statically from every .py file under labkit/ (DESIGN.md).

tests/test_sim_layering.py imports modules in a subprocess and looks at what
got loaded; that catches imports made at run time by any means. This file
reads the source with ``ast`` instead, so it also sees imports that have not
run: inside functions, under ``if TYPE_CHECKING:``, through
``importlib.import_module("labkit....")`` with a literal name.

To place a new module or package, or to change what a group may import, edit
PLACES or MAY_IMPORT below: one line each. The checker is the code after them.

Decisions:

- An import under ``if TYPE_CHECKING:`` counts. It does not run, but it ties
  the layer's types to the higher package; DESIGN.md says the layers see only
  small Protocols (a port, a clock), never a node or the engine, so such a
  Protocol belongs in the layer itself.
- The one exception: imports inside a module-level ``def __getattr__(name)``
  (PEP 562). Those are compatibility re-exports of names that moved to a
  higher package, kept so that old notebooks still run; they run only when an
  old name is looked up, never at import time. Only there are they allowed.
  The ``engine`` rule has no such exception.
- The second: imports under a module-level ``if __name__ == "__main__":``. They
  run only when the file is executed as a script (``python -m labkit.tap``),
  which makes it a command-line entry point, and the command line sits on top
  of everything.
- Only ``labkit`` imports are checked; third-party ones (numpy, matplotlib) are
  the business of the runtime test and of the packaging.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- the rules

#: The protocol layers, bottom to top.
LAYERS = ("phy", "link", "net", "transport", "app")

#: Where each module belongs. A key is a module, or ``package.*`` for a package and everything in
#: it; an exact module beats a package, and a deeper package beats a shallower one.
PLACES = {
    "labkit": "bottom",  # the package's __init__: the error hierarchy's names
    "labkit.errors": "bottom",
    "labkit.units": "bottom",
    "labkit.display": "bottom",
    "labkit._moved": "bottom",  # serves names that moved up from where notebooks found them
    "labkit.fields": "bottom",  # a header's layout, stated once; every header module uses it
    "labkit.phy.*": "phy",
    "labkit.link.*": "link",
    "labkit.net.*": "net",
    "labkit.transport.*": "transport",
    "labkit.app.*": "app",
    "labkit.sim.*": "sim",  # the engine: clock, events, links, impairments, capture
    "labkit.sim.stacks": "sim.stacks",  # the one place where the layers meet the engine
    "labkit.sim.access": "sim.stacks",  # beside stacks: the medium access protocols on the shared medium
    "labkit.sim.routing": "sim.stacks",  # beside stacks: RIP (app), link state and NAT (net) on the routers
    "labkit.hw.*": "hw",
    "labkit.hw.exercises": "hw.exercises",  # compatibility: the hardware checks' old home
    "labkit.exercises.*": "exercises",
    "labkit.labs.*": "labs",  # the labs' graders: the learner's component in labkit's network
    "labkit.viz.*": "viz",
    "labkit.cli.*": "cli",  # labkit/cli.py today, the labkit/cli/ package being written
    "labkit.hw.cli": "cli",  # the `labkit hw` subcommand (moving to labkit/cli/, then a re-export)
    "labkit.__main__": "main",  # python -m labkit: the command line
    "labkit.testing": "testing",  # scenario helpers for tests and check cells
    "labkit.capstone": "apps",  # whole programs on top of the stack
    "labkit.demo": "apps",
    "labkit.tap": "apps",
    "labkit.bottleneck": "apps",  # lesson 10's experiments: flows through one bottleneck
}

#: What each group may import (``layers`` stands for all five). A group lists itself when it may
#: import its own modules; ``*`` is everything.
#   group            may import                                                  why
MAY_IMPORT = {
    "bottom":       ("bottom",                                                   "the shared bottom"),
    "phy":          ("bottom phy",                                               "a layer"),
    "link":         ("bottom phy link",                                          "a layer"),
    "net":          ("bottom phy link net",                                      "a layer"),
    "transport":    ("bottom phy link net transport",                            "a layer"),
    "app":          ("bottom phy link net transport app",                        "a layer"),
    "sim":          ("bottom sim",                                               "the engine"),
    "sim.stacks":   ("bottom layers sim sim.stacks",                             "where layers meet"),
    "testing":      ("bottom testing",                                           "scenario helpers"),
    "hw":           ("bottom layers sim sim.stacks testing hw",                  "boards"),
    "hw.exercises": ("bottom layers sim sim.stacks testing hw exercises",        "compat re-export"),
    "apps":         ("bottom layers sim sim.stacks testing hw apps",             "programs"),
    "exercises":    ("bottom layers sim sim.stacks testing hw apps exercises",   "checks and labs"),
    "viz":          ("bottom layers sim sim.stacks testing hw apps viz",         "plots and widgets"),
    "labs":         ("bottom layers sim sim.stacks testing labs",                "lab graders"),
    "cli":          ("*",                                                        "on top of everything"),
    "main":         ("bottom cli",                                               "the entry point"),
}

#: The rule in words, for a failure message, for each kind of group.
WHY = {
    "the shared bottom": "the shared bottom modules import only each other",
    "a layer": "a layer imports only itself, the layers below it and the shared bottom modules "
               "(labkit, labkit.errors, labkit.units, labkit.display)",
    "the engine": "the engine (labkit.sim) imports no layer; labkit.sim.stacks joins them",
    "where layers meet": "labkit.sim.stacks joins the layers and the engine, and nothing above them",
    "scenario helpers": "labkit.testing imports no layer and no simulator",
    "boards": "hw imports no viz, exercises, cli or programs (capstone, demo, tap)",
    "compat re-export": "labkit.hw.exercises may re-export the hardware checks from labkit.exercises",
    "programs": "capstone, demo and tap import no viz, exercises or cli",
    "checks and labs": "exercises are imported only by notebooks, the cli and themselves; "
                       "they import no viz and no cli",
    "plots and widgets": "viz is imported only by viz and the cli; it imports no exercises and no cli",
    "lab graders": "the labs' graders (labkit.labs) import the layers, the simulator and "
                   "labkit.testing: no boards, programs, viz, exercises or cli",
    "on top of everything": "the cli may import anything",
    "the entry point": "python -m labkit runs the cli",
}

#: Groups whose modules must never touch an attribute named ``engine`` (they get a clock Protocol).
NO_ENGINE = set(LAYERS)

ENGINE_RULE = ("a layer never touches the engine (.engine): it is given small Protocols "
               "(a port, a clock) by labkit.sim.stacks")


def allowed(group: str) -> set[str]:
    words = MAY_IMPORT[group][0].split()
    if words == ["*"]:
        return set(MAY_IMPORT)
    out = set()
    for w in words:
        out.update(LAYERS if w == "layers" else (w,))
    return out


# --------------------------------------------------------------------------- the checker


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    what: str  # the import statement, or the attribute access
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}  -- {self.rule}"


def group_of(module: str) -> str | None:
    """The group of a dotted module name, from PLACES; None if it is in no group."""
    if module in PLACES:
        return PLACES[module]
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        group = PLACES.get(".".join(parts[:n]) + ".*")
        if group is not None:
            return group
    return None


def module_name(path: str) -> str:
    """``labkit/net/stack.py`` -> ``labkit.net.stack``; ``labkit/net/__init__.py`` -> ``labkit.net``."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(path: str) -> list[str]:
    """The package a file's relative imports start from."""
    parts = module_name(path).split(".")
    return parts if Path(path).name == "__init__.py" else parts[:-1]


def _resolve(path: str, level: int, module: str | None) -> str | None:
    if level == 0:
        return module
    base = _package(path)
    if level - 1 > len(base) - 1:
        return None  # beyond the top of labkit
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _is_module_getattr(node: ast.AST, parent: ast.AST) -> bool:
    return (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__getattr__"
            and isinstance(parent, ast.Module))


def _is_main_block(node: ast.AST, parent: ast.AST) -> bool:
    """``if __name__ == "__main__":`` at module level."""
    if not isinstance(node, ast.If) or not isinstance(parent, ast.Module):
        return False
    test = node.test
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


class _Reader(ast.NodeVisitor):
    """Collect (line, statement text, imported labkit module) and engine accesses of one file."""

    def __init__(self, path: str, source: str, known: set[str]) -> None:
        self.path, self.source, self.known = path, source, known
        self.imports: list[tuple[int, str, str]] = []
        self.engine: list[tuple[int, str]] = []
        self._compat = False  # inside a module-level __getattr__ or __main__ block

    def _text(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        return " ".join(text.split())  # an import over several lines, on one

    def _add(self, node: ast.AST, module: str | None) -> None:
        if module is None:
            self.imports.append((node.lineno, self._text(node), "<beyond the top package>"))
        elif (module == "labkit" or module.startswith("labkit.")) and not self._compat:
            entry = (node.lineno, self._text(node), module)
            if entry not in self.imports:  # from labkit.x import a, b: one import of labkit.x
                self.imports.append(entry)

    def visit_Module(self, node: ast.Module) -> None:
        for child in node.body:
            if _is_module_getattr(child, node) or _is_main_block(child, node):
                self._compat = True
                self.visit(child)
                self._compat = False
            else:
                self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.path, node.level, node.module)
        if base is None:
            self._add(node, None)
            return
        for alias in node.names:
            # ``from labkit import sim`` imports the package labkit.sim, not a name of labkit
            sub = f"{base}.{alias.name}"
            is_module = sub in self.known or sub in PLACES or f"{sub}.*" in PLACES
            self._add(node, sub if is_module else base)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                target = arg.value
                if target.startswith("."):
                    level = len(target) - len(target.lstrip("."))
                    pkg = node.args[1] if len(node.args) > 1 else next(
                        (k.value for k in node.keywords if k.arg == "package"), None)
                    if isinstance(pkg, ast.Name) and pkg.id == "__package__":
                        target = _resolve(self.path, level, target.lstrip(".") or None)
                    else:
                        target = ""  # relative to a package we cannot read: the runtime test's job
                if target != "":
                    self._add(node, target)
        if (isinstance(f, ast.Name) and f.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == "engine"):
            self.engine.append((node.lineno, self._text(node)))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "engine":
            self.engine.append((node.lineno, self._text(node)))
        self.generic_visit(node)


def check(sources: dict[str, str]) -> list[Violation]:
    """Every rule broken in ``sources`` (path under the repository -> text), sorted by place."""
    known = {module_name(p) for p in sources}
    out: list[Violation] = []
    for path, source in sources.items():
        group = group_of(module_name(path))
        if group is None:
            out.append(Violation(path, 1, f"module {module_name(path)}",
                                 "in no group: place it in PLACES (tests/test_layering.py)"))
            continue
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            out.append(Violation(path, exc.lineno or 1, "the file", f"does not parse: {exc.msg}"))
            continue
        reader = _Reader(path, source, known)
        reader.visit(tree)
        may = allowed(group)
        kind = MAY_IMPORT[group][1]
        for line, text, module in reader.imports:
            target = group_of(module)
            if target is None:
                out.append(Violation(path, line, text,
                                     f"imports {module}, which is in no group: place it in PLACES"))
            elif target not in may:
                why = WHY[kind]
                out.append(Violation(
                    path, line, text,
                    f"{group} imports {module} ({target}); {group} may import only "
                    f"{MAY_IMPORT[group][0]} [{why}]"))
        if group in NO_ENGINE:
            for line, text in reader.engine:
                out.append(Violation(path, line, text, f"{group}: {ENGINE_RULE}"))
    return sorted(out)


def labkit_sources() -> dict[str, str]:
    files = sorted((ROOT / "labkit").rglob("*.py"))
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in files}


def report(violations: list[Violation]) -> str:
    return f"{len(violations)} broken:\n" + "\n".join(map(str, violations))


# --------------------------------------------------------------------------- labkit itself


@pytest.fixture(scope="module")
def found() -> list[Violation]:
    sources = labkit_sources()
    assert len(sources) > 50 and "labkit/net/ipv4.py" in sources  # we are reading the real tree
    return check(sources)


def test_every_file_is_in_a_group(found):
    bad = [v for v in found if "in no group" in v.rule]
    assert not bad, report(bad)


def test_imports_follow_the_rules(found):
    bad = [v for v in found if "in no group" not in v.rule and ENGINE_RULE not in v.rule]
    assert not bad, report(bad)


def test_layers_never_touch_the_engine(found):
    bad = [v for v in found if ENGINE_RULE in v.rule]
    assert not bad, report(bad)


# --------------------------------------------------------------------------- the table is DESIGN.md's


def importers(group: str) -> set[str]:
    return {g for g in MAY_IMPORT if group in allowed(g)}


def test_the_table_states_the_design():
    assert set(PLACES.values()) == set(MAY_IMPORT), "every placed group has a rule, and no rule is unused"
    for g in MAY_IMPORT:
        assert allowed(g) <= set(MAY_IMPORT), g
    for i, layer in enumerate(LAYERS):  # itself, the layers below, the bottom: nothing else
        assert allowed(layer) == {"bottom", *LAYERS[: i + 1]}, layer
    assert allowed("sim") & set(LAYERS) == set()  # the engine imports no layer
    assert "sim.stacks" not in allowed("sim")  # (it would, through the stacks)
    assert importers("exercises") == {"exercises", "hw.exercises", "cli"}
    assert importers("viz") == {"viz", "cli"}
    assert importers("cli") == {"cli", "main"}


# --------------------------------------------------------------------------- the checker itself


def rules_broken(path: str, source: str) -> list[str]:
    return [str(v) for v in check({path: source})]


def test_checker_catches_a_layer_importing_the_engine():
    got = rules_broken("labkit/net/bad.py", "import numpy\nfrom labkit.sim import Network\n")
    assert len(got) == 1
    assert got[0].startswith("labkit/net/bad.py:2: from labkit.sim import Network")
    assert "net imports labkit.sim (sim)" in got[0] and "a layer imports only itself" in got[0]


def test_checker_reads_imports_everywhere():
    source = '''
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from labkit.transport.tcp import TCPSegment
def f():
    import labkit.viz
class C:
    def m(self):
        from labkit import exercises
'''
    got = rules_broken("labkit/link/x.py", source)
    assert [g.split(":")[1] for g in got] == ["4", "6", "9"], got
    assert "link imports labkit.transport.tcp (transport)" in got[0]
    assert "labkit.viz (viz)" in got[1] and "labkit.exercises (exercises)" in got[2]


def test_checker_allows_only_a_module_level_getattr():
    source = '''
def __getattr__(name):
    from labkit.exercises import link
    return getattr(link, name)
class C:
    def __getattr__(self, name):
        from labkit.exercises import link
'''
    got = rules_broken("labkit/link/exercises.py", source)
    assert len(got) == 1 and got[0].startswith("labkit/link/exercises.py:7:"), got


def test_checker_allows_a_main_block_at_module_level_only():
    source = '''
if __name__ == "__main__":
    from labkit.cli.tap import main
if __name__ != "__main__":
    from labkit.cli import x
def f():
    if __name__ == "__main__":
        from labkit.cli import y
'''
    got = rules_broken("labkit/tap.py", source)
    assert [g.split(":")[1] for g in got] == ["5", "8"], got


def test_checker_resolves_relative_imports():
    ok = "from . import arp\nfrom .ipv4 import IPv4Packet\nfrom .. import errors\nfrom ..link import mac\n"
    assert rules_broken("labkit/net/stack.py", ok) == []
    assert rules_broken("labkit/net/__init__.py", "from .routing import Route\n") == []
    got = rules_broken("labkit/net/stack.py", "from .. import sim\nfrom ..transport.tcp import TCPSegment\n")
    assert len(got) == 2
    assert "net imports labkit.sim (sim)" in got[0]
    assert "net imports labkit.transport.tcp (transport)" in got[1]
    # the package's own __init__ resolves one level less far
    got = rules_broken("labkit/sim/__init__.py", "from ..net import stack\n")
    assert len(got) == 1 and "sim imports labkit.net (net)" in got[0] and "the engine" in got[0]


def test_checker_catches_import_module_with_a_literal_name():
    source = ('import importlib\nfrom importlib import import_module\n'
              'importlib.import_module("labkit.sim")\nimport_module("labkit.viz.phy")\n'
              'importlib.import_module(".sim", __package__)\nimportlib.import_module(some_name)\n')
    got = rules_broken("labkit/phy/x.py", source)
    assert [g.split(":")[1] for g in got] == ["3", "4"], got
    assert 'importlib.import_module("labkit.sim")' in got[0] and "labkit.viz.phy (viz)" in got[1]
    got = rules_broken("labkit/net/x.py", 'import importlib\nimportlib.import_module("..sim", __package__)\n')
    assert len(got) == 1 and "labkit.sim (sim)" in got[0]


def test_checker_reports_a_file_in_no_group():
    got = rules_broken("labkit/newthing/core.py", "import labkit.net\n")
    assert got == ["labkit/newthing/core.py:1: module labkit.newthing.core  -- in no group: "
                   "place it in PLACES (tests/test_layering.py)"]
    got = rules_broken("labkit/cli.py", "import labkit.newthing\n")
    assert len(got) == 1 and "imports labkit.newthing, which is in no group" in got[0]


def test_checker_catches_the_engine_in_a_layer_only():
    source = "def wait(net):\n    e = net.engine\n    return getattr(net, 'engine')\n"
    got = rules_broken("labkit/transport/w.py", source)
    assert [g.split(":")[1] for g in got] == ["2", "3"], got
    assert "net.engine" in got[0] and "never touches the engine" in got[0]
    assert rules_broken("labkit/sim/stacks.py", source) == []  # the stacks may
    assert rules_broken("labkit/tap.py", source) == []


def test_checker_places_the_exceptions():
    stacks = "from labkit.net.stack import IPStack\nimport labkit.sim\nfrom labkit.sim.engine import Engine\n"
    assert rules_broken("labkit/sim/stacks.py", stacks) == []
    assert rules_broken("labkit/hw/exercises.py", "from labkit.exercises import check\n") == []
    assert len(rules_broken("labkit/hw/board.py", "from labkit.exercises import check\n")) == 1
    assert rules_broken("labkit/cli/main.py", "import labkit.viz\nimport labkit.exercises\n") == []
    assert len(rules_broken("labkit/capstone.py", "import labkit.viz\n")) == 1
    assert rules_broken("labkit/hw/cli.py", "from labkit.cli.hw import cmd_send\n") == []
    assert len(rules_broken("labkit/hw/lab.py", "from labkit.hw.cli import cmd_send\n")) == 1


def test_checker_reports_every_failure_at_once():
    files = {"labkit/phy/a.py": "import labkit.sim\nimport labkit.viz\n",
             "labkit/link/b.py": "x = y.engine\n", "labkit/odd.py": ""}
    got = check(files)
    assert [(v.path, v.line) for v in got] == [("labkit/link/b.py", 1), ("labkit/odd.py", 1),
                                               ("labkit/phy/a.py", 1), ("labkit/phy/a.py", 2)]
