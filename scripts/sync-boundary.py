"""Rewrites the permissions-boundary document in template.yaml and
deploy/provisioner-role.yaml from `audit-grants boundary-policy`, the one
source of truth (tests/templates.rs fails when they drift apart).

Usage: cargo build && python3 scripts/sync-boundary.py"""
import json
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
doc = json.loads(subprocess.check_output([str(ROOT / "target/debug/audit-grants"), "boundary-policy"]))


def block(indent):
    p = " " * indent
    lines = [f'{p}Version: "{doc["Version"]}"', f"{p}Statement:"]
    for st in doc["Statement"]:
        lines += [f"{p}  - Sid: {st['Sid']}", f"{p}    Effect: {st['Effect']}", f"{p}    Resource: {json.dumps(st['Resource'])}", f"{p}    Action:"]
        lines += [f"{p}      - {a}" for a in st["Action"]]
    return lines


for name in ["template.yaml", "deploy/provisioner-role.yaml"]:
    path = ROOT / name
    out, skipping = [], False
    for line in path.read_text().splitlines():
        if line.strip().startswith("# BEGIN boundary"):
            out.append(line)
            out += block(len(line) - len(line.lstrip()))
            skipping = True
        elif line.strip().startswith("# END boundary"):
            out.append(line)
            skipping = False
        elif not skipping:
            out.append(line)
    path.write_text("\n".join(out) + "\n")
    print(f"updated {name}")
