"""The thin command line every step shares.

    python -m attnlab.<exp>.<step> --input NAME PATH [PATH ...] --output NAME PATH [...] --params JSON

A rule passes paths and a JSON of its params; the same step runs by hand or from pytest.
A user-fixable error prints one line, `error: <file>: <what is wrong>` (an AttnlabError names its
file first; an OSError about a file is printed the same way), and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

from attnlab import AttnlabError


@dataclass
class StepArgs:
    inputs: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def input(self, name: str) -> str:
        return self._one(self.inputs, name, "--input")

    def output(self, name: str) -> str:
        return self._one(self.outputs, name, "--output")

    def split(self) -> list["StepArgs"]:
        """The member invocations of a stacked step (attnlab.experiment.stacked_step: params
        "stacked" lists each member's own params, and every named input and output holds the same
        number of paths per member, in member order; member i gets its share of each), or [self]
        for an ordinary step."""
        own = self.params.get(STACKED)
        if own is None:
            return [self]
        n = len(own)
        counts = {f"--{kind} {k}": len(v) for kind, table in (("input", self.inputs), ("output", self.outputs))
                  for k, v in table.items()}
        if any(c % n for c in counts.values()):
            raise AttnlabError(f"a stacked step of {n} members needs as many paths for every member under each "
                               f"name, got {counts}")

        def part(table: dict, i: int) -> dict:
            return {k: v[i * (len(v) // n):(i + 1) * (len(v) // n)] for k, v in table.items()}

        shared = {k: v for k, v in self.params.items() if k != STACKED}
        return [StepArgs(part(self.inputs, i), part(self.outputs, i), {**shared, **own[i]}) for i in range(n)]

    @staticmethod
    def _one(table, name, flag):
        if name not in table:
            raise AttnlabError(f"missing {flag} {name}")
        if len(table[name]) != 1:
            raise AttnlabError(f"{flag} {name} expects one path, got {len(table[name])}")
        return table[name][0]


def parse(argv=None, description: str = "") -> StepArgs:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--input", nargs="+", action="append", default=[], metavar=("NAME", "PATH"),
                   help="a named path (or list of paths; possibly empty)")
    p.add_argument("--output", nargs="+", action="append", default=[], metavar=("NAME", "PATH"))
    p.add_argument("--params", default="{}", help="JSON object of parameters")
    ns = p.parse_args(argv)

    def table(groups, flag):
        out: dict[str, list[str]] = {}
        for name, *paths in groups:
            out.setdefault(name, []).extend(paths)
        return out

    try:
        params = json.loads(ns.params)
    except json.JSONDecodeError as e:
        p.error(f"--params is not valid JSON: {e}")
    if not isinstance(params, dict):
        p.error("--params must be a JSON object")
    return StepArgs(table(ns.input, "--input"), table(ns.output, "--output"), params)


FAIL_ONCE = "ATTNLAB_FAIL_ONCE"
# params key of a stacked step: each member's own params (attnlab.experiment.stacked_step)
STACKED = "stacked"


def _inject_failure() -> None:
    """Fault injection for the retry tests: ATTNLAB_FAIL_ONCE="<module>=<marker file>" makes the
    first run of that step exit 3 (and create the marker); later runs go through."""
    spec = os.environ.get(FAIL_ONCE, "")
    module, _, marker = spec.partition("=")
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if module and marker and module == name and not os.path.exists(marker):
        open(marker, "w").close()
        print(f"error: failure injected by {FAIL_ONCE} into {module}", file=sys.stderr)
        sys.exit(3)


def run_step(fn: Callable[[StepArgs], None], argv=None, description: str = "") -> None:
    """Parse the command line, pin thread counts, run `fn`; turn AttnlabError into exit 2."""
    args = parse(argv, description)
    _inject_failure()
    threads = max(1, int(args.params.get("threads", os.environ.get("OMP_NUM_THREADS", 1))))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:  # one torch thread per job unless the rule gives more
        sys.modules["torch"].set_num_threads(threads)
    try:
        for member in args.split():  # a stacked step runs its members one after another
            fn(member)
    except AttnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        if e.filename is None:  # not about a file: a bug or the machine, keep the traceback
            raise
        # a file the step could not open, read or write (missing, a directory, no permission,
        # disk full): name it, as an AttnlabError would
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        sys.exit(2)
