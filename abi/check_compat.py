#!/usr/bin/env python3
"""Breaking-change check of the ABI schemas against their goldens (like `buf breaking`).

Usage: check_compat.py [--quiet] GOLDEN_DIR GENERATED_DIR NAME...

Compares the "@shape" block (emitted by tessera-capnpc at the end of every generated header,
see docs/abi.md "Compatibility") of abi/golden/NAME.capnp.h with the freshly generated
NAME.capnp.h. Breaking: a removed enum, enumerant, struct, field, interface or method; a changed
id, interface code, ordinal, type, slot location, union tag or default; a struct whose data or
pointer section shrank. Compatible: anything appended (methods, fields, enumerants, types).
A schema without a golden is new and passes. Prints one line per breaking change,

  SCHEMA: breaking: KIND NAME: MEMBER-KIND MEMBER: WHAT OLD -> NEW

and exits 1 if there is any; 0 otherwise.
"""
import sys
from pathlib import Path


def parse(text: str):
    """The shape block as {"file": path, ("enum"|"struct"|"interface", name): (attrs, {member: attrs})}."""
    shape = {"file": None}
    current = None
    for line in text.splitlines():
        if not line.startswith("// @shape "):
            continue
        words = line[len("// @shape "):].split()
        if words[0] == "file":
            shape["file"] = words[1]
            continue
        if not line.startswith("// @shape   "):
            kind, name, rest = words[0], words[1], words[2:]
            current = (dict(w.split("=", 1) for w in rest), {})
            shape[(kind, name)] = current
        else:
            kind, name, ordinal, rest = words[0], words[1], words[2], words[3:]
            attrs = {"kind": kind, "ordinal": ordinal}
            for w in rest:
                if "=" in w:
                    key, value = w.split("=", 1)
                    attrs[key] = value
                else:
                    attrs["type"] = w
            current[1][name] = attrs
    return shape


MEMBER_KIND = {"enum": "enumerant", "struct": "field", "interface": "method"}


def compare(old, new, schema: str) -> list[str]:
    problems = []

    def report(kind, name, what, member=None):
        where = f"{kind} {name}" + (f": {MEMBER_KIND[kind]} {member}" if member else "")
        problems.append(f"{schema}: breaking: {where}: {what}")

    for key, value in old.items():
        if key == "file":
            continue
        kind, name = key
        old_attrs, old_members = value
        if key not in new:
            report(kind, name, "removed")
            continue
        new_attrs, new_members = new[key]
        for attr in ("id", "code", "tag"):
            if attr in old_attrs and old_attrs[attr] != new_attrs.get(attr):
                label = {"id": "id", "code": "interface code", "tag": "union tag location (bit)"}[attr]
                report(kind, name, f"{label} changed {old_attrs[attr]} -> {new_attrs.get(attr, 'none')}")
        for attr in ("data", "pointers"):
            if attr in old_attrs and int(new_attrs.get(attr, 0)) < int(old_attrs[attr]):
                label = "data words" if attr == "data" else "pointer count"
                report(kind, name, f"{label} shrank {old_attrs[attr]} -> {new_attrs.get(attr)}")
        for member, before in old_members.items():
            after = new_members.get(member)
            if after is None:
                report(kind, name, "removed (members may be renamed or deprecated, never removed)", member)
                continue
            if before["ordinal"] != after["ordinal"]:
                report(kind, name, f"ordinal changed {before['ordinal']} -> {after['ordinal']} (renumbered; append with the next ordinal instead)", member)
            for attr, label in (("type", "type"), ("at", "location"), ("union", "union tag value"),
                                ("default", "default"), ("params", "parameter type"), ("results", "result type")):
                if before.get(attr) != after.get(attr):
                    report(kind, name, f"{label} changed {before.get(attr, 'none')} -> {after.get(attr, 'none')}", member)
    return problems


def main(argv: list[str]) -> int:
    quiet = "--quiet" in argv
    args = [a for a in argv if a != "--quiet"]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args and args[0] in ("-h", "--help") else 2
    golden_dir, generated_dir, names = Path(args[0]), Path(args[1]), args[2:]
    problems = []
    for name in names:
        golden = golden_dir / f"{name}.capnp.h"
        if not golden.exists():
            continue  # a new schema: nothing to be compatible with yet
        generated = generated_dir / f"{name}.capnp.h"
        if not generated.exists():
            problems.append(f"{name}.capnp: breaking: no generated header {generated}")
            continue
        old = parse(golden.read_text(encoding="utf-8"))
        new = parse(generated.read_text(encoding="utf-8"))
        if old["file"] is None:
            continue  # a golden from before shape blocks: nothing to compare
        problems += compare(old, new, old["file"])
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"abi-compat: {len(problems)} breaking change(s) against the goldens in {golden_dir}. Ordinals, ids, "
              "types and layouts are ABI: append instead (docs/abi.md, \"Compatibility\"). A deliberate break: "
              "TESSERA_ABI_ALLOW_BREAKING=1 ninja -C <build> abi-update-goldens", file=sys.stderr)
        return 1
    if not quiet:
        print(f"abi-compat: {len(names)} schema(s) compatible with their goldens")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
