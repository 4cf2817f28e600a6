"""Writes managed-policies.json: the AWS managed policy documents of the access
presets (and AdministratorAccess, the out-of-band case), taken offline from the
pinned moto package (requirements-dev.txt), which snapshots AWS's managed policies.

Usage: .venv/bin/python tests/iam/extract-managed-policies.py
(run from the repository root after scripts/venv.sh; commit the result)."""
import json
import pathlib

import moto
from moto.iam.aws_managed_policies import aws_managed_policies_data

WANTED = ["SecurityAudit", "ViewOnlyAccess", "ReadOnlyAccess", "AdministratorAccess"]

data = json.loads(aws_managed_policies_data)
out = {
    "source": f"moto {moto.__version__} moto/iam/aws_managed_policies.py",
    "policies": {},
}
for name in WANTED:
    p = data[name]
    path = p.get("Path", "/")
    arn = f"arn:aws:iam::aws:policy{path}{name}"
    out["policies"][arn] = {
        "name": name,
        "path": path,
        "version": p.get("DefaultVersionId"),
        "updated": p.get("UpdateDate"),
        "document": p["Document"],
    }
target = pathlib.Path(__file__).resolve().parent / "managed-policies.json"
target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
print(f"wrote {target} ({', '.join(out['policies'])})")
