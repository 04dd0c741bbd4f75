"""The import graph: no cycle, no private name across modules, imports go down the layers;
above the repository no statement is built; the backends are swapped only by ``using``.

Read from the source with :mod:`ast` (nothing is imported), counting every import a module
makes: at its top, inside a function or method, and under ``if TYPE_CHECKING:``. A type named
in an annotation is as much a dependency as a call; a cycle hidden by importing one way inside
a function and the other way for annotations only is still a cycle (issue 24 found three:
``config``/``mail``, ``ai.gemini``/``ai.gemini_batch``, ``backends``/``jobqueue``). ``make
lint`` runs this module.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("visualizer_core", "visualizer_cli", "workers", "streamlit_app")
# Adapters: what the services use. They never call up into a service.
ADAPTERS = (
    "visualizer_core.ai",
    "visualizer_core.db",
    "visualizer_core.storage",
    "visualizer_core.jobqueue",
    "visualizer_core.inspiration",
    "visualizer_core.backends",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (a submodule where the name is one)
    names: tuple[str, ...]  # the names taken from it (``from x import a, b``)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    is_package = MODULES[module].name == "__init__.py"
    base = package if is_package else package[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_in(module: str, tree: ast.AST, known: Collection[str] = MODULES) -> list[Import]:
    """Every import in ``tree`` (the source of ``module``), wherever it stands: at the top,
    inside a function or a class, under ``if TYPE_CHECKING:`` or ``try:``. A name taken from a
    package is the submodule of that name where ``known`` has one."""
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source == "__future__":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:
                    found.append(Import(module, sub, (), node.lineno))
                else:
                    found.append(Import(module, source, (alias.name,), node.lineno))
    found.sort(key=lambda i: i.line)
    return found


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    return imports_in(module, ast.parse(path.read_text(), filename=str(path)))


IMPORTS = {module: imports_of(module) for module in MODULES}


def _graph(
    imports: Mapping[str, list[Import]] = IMPORTS, known: Collection[str] = MODULES
) -> dict[str, set[str]]:
    return {
        module: {i.target for i in found if i.target in known and i.target != module}
        for module, found in imports.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles (each a group of modules that import each other): {cycles}"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # one way inside a function, the other for annotations only (how the three hid)
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
            "def make():\n    from pkg.a import A\n    return A()\n",
        ),
        # both ways inside functions and methods, one of them as a package's submodule
        (
            "def f():\n    import pkg.b\n",
            "class C:\n    def g(self):\n        from pkg import a\n",
        ),
        # at the top one way, inside a function guarded by try the other way
        (
            "import pkg.b\n",
            "def f():\n    try:\n        import pkg.a\n    except ImportError:\n        pass\n",
        ),
    ],
)
def test_the_cycle_check_finds_a_cycle_hidden_in_functions_or_annotations(
    first: str, second: str
) -> None:
    known = {"pkg", "pkg.a", "pkg.b"}
    imports = {
        "pkg.a": imports_in("pkg.a", ast.parse(first), known),
        "pkg.b": imports_in("pkg.b", ast.parse(second), known),
    }
    assert _cycles(_graph(imports, known)) == [["pkg.a", "pkg.b"]]


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [
        f"{i.module}:{i.line} takes {name} from {i.target}"
        for found in IMPORTS.values()
        for i in found
        for name in i.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not private, f"private names used across modules (make them public): {private}"


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    ("importers", "forbidden", "why"),
    [
        (("visualizer_core",), ("streamlit",), "the library runs without the studio"),
        (ADAPTERS, ("visualizer_core.services", "visualizer_core.admin"), "adapters are below"),
        (("visualizer_core",), ("visualizer_cli", "workers", "streamlit_app"), "entry points"),
    ],
)
def test_imports_go_down_the_layers(
    importers: tuple[str, ...], forbidden: tuple[str, ...], why: str
) -> None:
    wrong = [
        f"{i.module}:{i.line} imports {i.target}"
        for module, found in IMPORTS.items()
        if _under(module, importers)
        for i in found
        if _under(i.target, forbidden)
    ]
    assert not wrong, f"{why}: {wrong}"


# Above the repository (services, the notebook API, the entry points, the inspiration library)
# nothing builds a statement: a session's type to annotate with, and the errors to catch, are
# all of SQLAlchemy they may name. Queries live in visualizer_core.db (repo, ledger, batch_rows).
ABOVE_THE_REPOSITORY = (
    "visualizer_core.services",
    "visualizer_core.admin",
    "visualizer_core.inspiration",
    "streamlit_app",
    "visualizer_cli",
    "workers",
)


def _sqlalchemy_beyond_session_and_errors(imports: list[Import]) -> list[str]:
    def allowed(i: Import) -> bool:
        if _under(i.target, ("sqlalchemy.exc",)):
            return True
        return i.target == "sqlalchemy.orm" and i.names == ("Session",)

    return [
        f"{i.module}:{i.line} imports {', '.join(i.names) or i.target} from {i.target}"
        for i in imports
        if _under(i.module, ABOVE_THE_REPOSITORY)
        and _under(i.target, ("sqlalchemy",))
        and not allowed(i)
    ]


def test_above_the_repository_nothing_builds_a_statement() -> None:
    wrong = _sqlalchemy_beyond_session_and_errors([i for f in IMPORTS.values() for i in f])
    assert not wrong, (
        "only sqlalchemy.orm.Session and sqlalchemy.exc above the repository: give "
        f"visualizer_core.db.repo a named function taking plain values instead: {wrong}"
    )


def test_the_statement_check_finds_a_statement() -> None:
    service = "visualizer_core.services.review"
    found = _sqlalchemy_beyond_session_and_errors(
        [
            Import(service, "sqlalchemy.orm", ("Session",), 1),
            Import(service, "sqlalchemy.exc", ("IntegrityError",), 2),
            Import(service, "sqlalchemy", ("select", "update"), 3),
            Import(service, "sqlalchemy.orm", ("aliased",), 4),
            Import(service, "sqlalchemy", (), 5),
            Import("visualizer_core.db.repo.review", "sqlalchemy", ("select",), 6),
        ]
    )
    assert [line.split(" ")[0] for line in found] == [f"{service}:{n}" for n in (3, 4, 5)]


# What the session does itself above the repository: add rows, flush them, and the unit of work's
# own commit, rollback and expunge. Reading, deleting and executing go through repo functions.
SESSION_CALLS_OF_THE_REPOSITORY = ("execute", "scalar", "scalars", "get", "delete", "query")


SESSION_OPENERS = ("unit_of_work", "read_only", "transaction", "reading", "Session")


def _session_names(tree: ast.AST) -> set[str]:
    """The names a module gives its database sessions, whatever they are: ``db`` always, a
    parameter annotated ``Session``, and ``with unit_of_work() as <name>`` (or ``read_only``,
    ``backends.current().transaction()``, ``reading()``, ``Session(...)``)."""
    names = {"db"}
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            if ast.unparse(node.annotation).split(".")[-1].strip("'\"") == "Session":
                names.add(node.arg)
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            opened = node.context_expr
            if isinstance(opened, ast.Call):
                called = ast.unparse(opened.func).split(".")[-1]
                if called in SESSION_OPENERS:
                    names.add(node.optional_vars.id)
    return names


def _session_queries(module: str, tree: ast.AST) -> list[str]:
    sessions = _session_names(tree)
    return [
        f"{module}:{node.lineno} calls {node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in sessions
        and node.func.attr in SESSION_CALLS_OF_THE_REPOSITORY
    ]


def test_above_the_repository_the_session_does_not_query() -> None:
    wrong = [
        line
        for module, path in MODULES.items()
        if _under(module, ABOVE_THE_REPOSITORY)
        for line in _session_queries(module, ast.parse(path.read_text()))
    ]
    assert not wrong, f"read and delete rows through visualizer_core.db.repo: {wrong}"


def test_the_session_check_finds_a_query() -> None:
    tree = ast.parse("db.add(row)\ndb.flush()\ndb.delete(row)\nrows = db.execute(stmt)\n")
    assert _session_queries("m", tree) == ["m:3 calls db.delete", "m:4 calls db.execute"]


def test_the_session_check_finds_a_query_on_a_session_of_another_name() -> None:
    tree = ast.parse(
        "with unit_of_work() as session:\n    session.add(row)\n    session.get(Flow, i)\n"
        "with backends.current().transaction() as s:\n    s.scalars(stmt)\n"
        "def helper(conn: Session, other: dict) -> None:\n    conn.execute(stmt)\n"
        "    other.get('key')\n"
        "with read_only() as reader:\n    reader.delete(row)\n"
    )
    assert _session_queries("m", tree) == [
        "m:3 calls session.get",
        "m:5 calls s.scalars",
        "m:7 calls conn.execute",
        "m:10 calls reader.delete",
    ]


# The backends are swapped one way, `with backends.using(built)`: no module's `__dict__` is
# written and nothing patches the locator's names (which a test once did, leaking the swap).
def _backends_aliases(tree: ast.AST) -> set[str]:
    """The names the backends module goes by in a module: ``backends``, and any alias
    (``import visualizer_core.backends as b``, ``from visualizer_core import backends as b``)."""
    names = {"backends", "visualizer_core.backends"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {
                a.asname for a in node.names if a.name == "visualizer_core.backends" and a.asname
            }
        elif isinstance(node, ast.ImportFrom) and node.module == "visualizer_core":
            names |= {a.asname for a in node.names if a.name == "backends" and a.asname}
    return names


def _locator_patches(name: str, tree: ast.AST) -> list[str]:
    aliases = _backends_aliases(tree)

    def is_backends(node: ast.AST) -> bool:
        return isinstance(node, ast.Name | ast.Attribute) and ast.unparse(node) in aliases

    def names_backends(node: ast.AST) -> bool:
        """The module, one of its names (``backends.current``) or a dotted path to either."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.startswith("visualizer_core.backends")
        if isinstance(node, ast.Attribute):
            return is_backends(node) or is_backends(node.value)
        return is_backends(node)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__":
                found.append(f"{name}:{node.lineno} writes a __dict__")
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if is_backends(node.value):
                found.append(f"{name}:{node.lineno} assigns backends.{node.attr}")
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            setter = (isinstance(node.func, ast.Name) and node.func.id == "setattr") or (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in ("setattr", "object", "delattr", "setitem")
            )
            patch = (isinstance(node.func, ast.Name) and node.func.id == "patch") or (
                isinstance(node.func, ast.Attribute) and node.func.attr == "patch"
            )
            if (setter or patch) and names_backends(first):
                found.append(f"{name}:{node.lineno} patches the backends module")
    return found


def test_the_backends_are_swapped_only_through_using() -> None:
    sources = [
        *MODULES.values(),
        *ROOT.joinpath("tests").rglob("*.py"),
        *ROOT.joinpath("bench").rglob("*.py"),
    ]
    wrong = [
        line
        for path in sources
        for line in _locator_patches(str(path.relative_to(ROOT)), ast.parse(path.read_text()))
    ]
    assert not wrong, f"swap the backends with `with backends.using(built)`: {wrong}"


def test_the_locator_check_finds_a_patch() -> None:
    tree = ast.parse(
        "with backends.using(built):\n    pass\n"
        "backends.__dict__['current'] = lambda: built\n"
        "monkeypatch.setattr(backends, 'current', lambda: built)\n"
        "mock.patch('visualizer_core.backends.current', lambda: built)\n"
        "backends.current = lambda: built\n"
        "settings.__dict__.get('x')\n"
        "monkeypatch.setattr('visualizer_core.backends.current', lambda: built)\n"
        "monkeypatch.setattr(backends.current, '__call__', None)\n"
        "import visualizer_core.backends as locator\n"
        "monkeypatch.setattr(locator, 'current', lambda: built)\n"
        "monkeypatch.setattr(visualizer_core.backends, 'current', lambda: built)\n"
        "monkeypatch.setattr(other_module, 'current', lambda: built)\n"
    )
    assert _locator_patches("m", tree) == [
        "m:3 writes a __dict__",
        "m:4 patches the backends module",
        "m:5 patches the backends module",
        "m:6 assigns backends.current",
        "m:8 patches the backends module",
        "m:9 patches the backends module",
        "m:11 patches the backends module",
        "m:12 patches the backends module",
    ]
