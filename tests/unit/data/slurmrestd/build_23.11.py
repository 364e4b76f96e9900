"""Build 23.11/ from 24.11/: the answers slurmrestd 23.11.4 (Ubuntu 24.04) gives at API v0.0.40.

No 23.11 runs on the rig. Its newest API, v0.0.40, is served by the data_parser/v0.0.40 plugin,
and every field the web view reads has the same type there as in 24.11's data_parser/v0.0.42
(the add_parse lines of src/plugins/data_parser/v0.0.40/parsers.c at slurm-23-11-4-1 against
v0.0.42/parsers.c at slurm-24-11-5-1; listed in the README here). So the 24.11 recordings are
kept, with what differs: the versions in the paths and the meta block, and the path list of
/openapi/v3 (23.11 serves v0.0.39 and v0.0.40). Run it from the repository root.
"""

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE, TARGET = HERE / "24.11", HERE / "23.11"
META = {"major": "23", "minor": "11", "micro": "4"}


def as_2311(answer: dict) -> dict:
    meta = answer.get("meta")
    if meta:
        meta["plugin"]["data_parser"] = "data_parser/v0.0.40"
        meta["slurm"].update(version=META, release="23.11.4")
    return answer


TARGET.mkdir(exist_ok=True)
for path in sorted(SOURCE.glob("*.json")):
    answer = json.loads(path.read_text())
    if path.name == "openapi_v3.json":
        v40 = sorted({p for p in answer["paths"] if re.match(r"^/slurm(db)?/v0\.0\.40/", p)})
        answer["paths"] = {
            p.replace("v0.0.40", v): answer["paths"][p] for v in ("v0.0.39", "v0.0.40") for p in v40
        }
        answer["info"]["version"] = answer["info"]["version"].replace("24.11.5", "23.11.4")
    (TARGET / path.name).write_text(json.dumps(as_2311(answer), indent=1) + "\n")
