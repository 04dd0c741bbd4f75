"""Run the benchmarks: ``python -m bench`` runs every module of this folder in turn.

``python -m bench generation`` runs only the named one(s). Each benchmark module has a
``main()`` that prints its own figures; this runner adds a header and the wall time of each.
A benchmark that fails is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

# Names a benchmark is also asked for by (a module cannot be called "import").
ALIASES = {"import": "import_feeds"}


def available() -> list[str]:
    """The benchmark modules of this folder, by name, sorted."""
    folder = Path(__file__).resolve().parent
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(folder)])
        if not info.name.startswith("_") and not info.ispkg
    )


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default); 0 when all ran, 1 when one failed."""
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(names)}")
    args = parser.parse_args(argv)
    args.names = [ALIASES.get(n, n) for n in args.names]
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (there are: {', '.join(names)})")
    failed: list[str] = []
    for name in args.names or names:
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            module.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"== bench.{name} FAILED", flush=True)
            continue
        print(f"== bench.{name} done in {time.perf_counter() - started:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
