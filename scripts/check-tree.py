#!/usr/bin/env python3
"""Checks the shape of the tree (run by `make check-tree`, part of `make test`):

1. Layers: a file may include headers of its own layer and of layers below it, never of a layer
   above or beside it (the ranks below), and public headers include each other without cycles.
2. Size: no function of product code (everything but tests/ and bench/) is longer than 150 lines.
3. Purpose: every C source and header starts with a comment saying what it is for.

Prints one line per violation and exits 1 if there is any."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FUNC_LINES = 150

# Layer of each place, and its rank: includes must go to a lower rank or the same layer.
LAYERS = {
    "base": 0,
    "model": 1,  # include/flowscope/*.h: the record and the flow
    "probes": 2,
    "enrich": 2,
    "pipeline": 3,
    "graph": 3,
    "filter": 4,
    "encode": 4,
    "history": 4,  # the embedded flow history: records, blocks, segments
    "exporters": 5,
    "serve": 6,
    "relay": 7,  # the cluster relay: agents' streams merged into a hub the servers serve
    "cli": 8,
    "daemon": 8,
}
SOURCE_DIRS = {
    "base": "base",
    "probes": "probes",
    "collector/enrich": "enrich",
    "collector/pipeline": "pipeline",
    "collector/graph": "graph",
    "collector/filter": "filter",
    "collector/history": "history",
    "export/encode": "encode",
    "export/exporters": "exporters",
    "export/serve": "serve",
    "relay": "relay",
    "cli": "cli",
    "daemon": "daemon",
}
PRODUCT = list(SOURCE_DIRS) + ["include"]


def layer_of(rel):
    """The layer of a file given by its path relative to the root, or None."""
    if rel.startswith("include/flowscope/"):
        parts = rel.split("/")
        return "model" if len(parts) == 3 else parts[2]
    d = os.path.dirname(rel)
    return SOURCE_DIRS.get(d)


def c_files(dirs):
    for d in dirs:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(base, n), ROOT)


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def includes(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield n, m.group(1)


def target_layer(rel, inc):
    """The layer of an included file: a public header by its path, a local one by its dir."""
    if inc.startswith("flowscope/"):
        return layer_of("include/" + inc)
    local = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
    return layer_of(local) if os.path.exists(os.path.join(ROOT, local)) else None


def check_layers(problems):
    graph = {}
    for rel in c_files(PRODUCT):
        mine = layer_of(rel)
        if mine is None:
            continue
        for n, inc in includes(rel):
            theirs = target_layer(rel, inc)
            if theirs is None:
                continue  # generated headers: skeletons, protobuf-c
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                problems.append("%s:%d: %s includes %s from layer %s, not below %s"
                                % (rel, n, mine, inc, theirs, mine))
            if rel.startswith("include/") and inc.startswith("flowscope/"):
                graph.setdefault(rel, []).append("include/" + inc)
    # Cycles among public headers.
    state = {}

    def visit(h, path):
        state[h] = 1
        for nxt in graph.get(h, []):
            if state.get(nxt) == 1:
                problems.append("include cycle: %s" % " -> ".join(path + [nxt]))
            elif not state.get(nxt):
                visit(nxt, path + [nxt])
        state[h] = 2

    for h in sorted(graph):
        if not state.get(h):
            visit(h, [h])


def check_functions(problems):
    for rel in c_files(PRODUCT):
        if not rel.endswith(".c"):
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        start = None
        for i, line in enumerate(lines):
            # Kernel style: a function body opens with "{" alone in column 0.
            if line == "{" and i > 0 and ("(" in lines[i - 1] or ")" in lines[i - 1]):
                start = i
            elif line == "}" and start is not None:
                length = i - start + 1
                if length > MAX_FUNC_LINES:
                    head = start - 1
                    while head > 0 and "(" not in lines[head]:
                        head -= 1
                    name = re.search(r"(\w+)\s*\(", lines[head])
                    problems.append("%s:%d: %s is %d lines (at most %d)"
                                    % (rel, head + 1, name.group(1) if name else "?",
                                       length, MAX_FUNC_LINES))
                start = None


def check_purpose(problems):
    for rel in c_files(PRODUCT + ["tests", "bench"]):
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            first = f.readline()
        if not first.startswith("/*") and not first.startswith("//"):
            problems.append("%s:1: no comment at the top saying what the file is for" % rel)


def main():
    problems = []
    check_layers(problems)
    check_functions(problems)
    check_purpose(problems)
    for p in problems:
        print(p)
    print("check-tree: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
