"""The cluster's web view: nodes, queue, running jobs, recent finished jobs and who uses what.

Standard library only, so it runs on the controller's own python3 (steps/webview.py installs it as
a systemd service). It asks slurmrestd with a short-lived JWT that it gets from `scontrol token`
as its own service user and renews before it expires; the browser gets rendered HTML and a JSON
model of the cluster, never the token. The API version is read from the server's OpenAPI
document (Slurm 22.05, 23.11 and 24.11 each speak different ones). Each person's fair-share
standing comes from `sshare`, run the same way as `scontrol token`: 22.05's slurmrestd has no shares
endpoint, and the page stays up without it. Only clients in the allowed networks (the cluster
network by default) are answered.

Settings come from the environment: WEBVIEW_LISTEN, WEBVIEW_PORT, WEBVIEW_ALLOW (networks,
comma-separated), WEBVIEW_REFRESH_S, SLURMRESTD_URL, TOKEN_LIFESPAN_S, CLUSTER_NAME.
"""

from __future__ import annotations

import html
import json
import os
import pwd
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address, ip_network

try:
    from webview import charts, jobstats  # the repository's layout (the tests)
except ImportError:
    import charts  # installed beside this file
    import jobstats

USAGE_DAYS = 7  # GPU-hours per person over this many days
USAGE_WINDOW = f"now-{USAGE_DAYS}days"  # slurmdbd jobs this recent (sacct's time syntax, every release)
HISTORY_ROWS = 25  # the newest finished jobs of USAGE_WINDOW on the page
SSHARE = ["sshare", "-a", "-P", "-o", "Account,User,RawUsage,FairShare"]
ACTIVE_STATES = {"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING"}

_VERSIONED = re.compile(r"^/(slurm|slurmdb)/v(\d+)\.(\d+)\.(\d+)/(nodes|jobs)/?$")
_GRES = re.compile(r"(?P<name>[^:,()]+)(?::(?P<type>[^:,()]+))?:(?P<count>\d+)(?:\([^)]*\))?")
_TRES_GPU = re.compile(r"(?:^|,)gres/gpu(?::[^=,]+)?=(\d+)")
_GRES_IDX = re.compile(r"^gpu(?::[^:(]+)?:\d+\(IDX:(?P<idx>[^)]*)\)")
_GRES_CONF_GPU = re.compile(r"NodeName=(?P<node>\S+)\s.*\bName=gpu\b.*\bFile=(?P<file>\S+)")


# -- the model: what the page shows, parsed from either release's JSON ---------------------------


def number(value):
    """A plain number from 22.05's ints or 24.11's {"set", "infinite", "number"} objects."""
    if isinstance(value, dict):
        return value.get("number") if value.get("set") and not value.get("infinite") else None
    return value


def state(value, flags=()) -> str:
    """'IDLE+DRAIN' from 22.05's "idle" (+ state_flags) or 24.11's ["IDLE", "DRAIN"]."""
    parts = list(value) if isinstance(value, list) else [value] if value else []
    return "+".join(str(p).upper() for p in [*parts, *flags])


def gpus_in_gres(gres: str | None) -> int:
    """GPUs in a node's gres or gres_used string: 'gpu:rtx5090:2(IDX:0,1)' -> 2."""
    return sum(int(m["count"]) for m in _GRES.finditer(gres or "") if m["name"] == "gpu")


def tres_gpus(tres: str | None) -> int:
    """GPUs in a TRES string: 'cpu=1,mem=1000M,gres/gpu=1' -> 1 (typed entries when untyped is absent)."""
    plain = re.search(r"(?:^|,)gres/gpu=(\d+)", tres or "")
    return int(plain[1]) if plain else sum(int(n) for n in _TRES_GPU.findall(tres or ""))


def tres_list_gpus(tres: list | None) -> int:
    """GPUs in slurmdbd's TRES list: [{"type": "gres", "name": "gpu", "count": 1}, ...] -> 1."""
    counts = [t.get("count") or 0 for t in tres or [] if t.get("type") == "gres" and t.get("name") == "gpu"]
    return sum(c for c in counts if c > 0)


def expand(ranges: str) -> list[str]:
    """Slurm's range syntax: 'node[0-2],gpu5' -> ['node0', 'node1', 'node2', 'gpu5']; '0-1,3' -> 0, 1, 3."""
    out = []
    for part in re.findall(r"[^,\[]*(?:\[[^\]]*\])?[^,\[]*", ranges or ""):
        if not part:
            continue
        head, _, rest = part.partition("[")
        if not rest:
            out += _numbers(part) if re.fullmatch(r"[\d,-]+", part) else [part]
            continue
        inner, _, tail = rest.partition("]")
        out += [f"{head}{n}{tail}" for item in inner.split(",") for n in _numbers(item)]
    return out


def _numbers(item: str) -> list[str]:
    low, _, high = item.partition("-")
    if not high:
        return [low]
    return [str(n).zfill(len(low)) for n in range(int(low), int(high) + 1)]


def gres_minors(gres_conf: str) -> dict[str, list[str]]:
    """Per node, the minor numbers of its GPUs in gres.conf's order (Slurm's IDX counts in it)."""
    minors: dict[str, list[str]] = {}
    for line in gres_conf.splitlines():
        match = _GRES_CONF_GPU.search(line.split("#")[0])
        if match:
            for node in expand(match["node"]):
                minors.setdefault(node, []).extend(re.sub(r"^\D*", "", f) for f in expand(match["file"]))
    return minors


def job_gpus(job: dict, minors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(node, minor) of every GPU a running job holds: gres_detail has one entry per node of the job,
    in its node list's order, with the GPUs' indices in that node's gres.conf lines."""
    held = []
    for node, detail in zip(expand(job.get("nodes") or ""), job.get("gres_detail") or [], strict=False):
        match = _GRES_IDX.match(detail)
        for idx in expand(match["idx"]) if match else []:
            node_minors = minors.get(node, [])
            held.append((node, node_minors[int(idx)] if int(idx) < len(node_minors) else idx))
    return held


def api_versions(openapi: dict) -> dict:
    """The newest API versions the server offers, from its OpenAPI document.

    {"slurm": "v0.0.42", "slurmdb": "v0.0.42"}; "slurmdb" is None when accounting is not served.
    """
    found: dict[tuple[str, tuple[int, ...]], set[str]] = {}
    for path in openapi.get("paths", {}):
        m = _VERSIONED.match(path)
        if m:
            found.setdefault((m[1], (int(m[2]), int(m[3]), int(m[4]))), set()).add(m[5])
    newest = {}
    for kind, needs in (("slurm", {"nodes", "jobs"}), ("slurmdb", {"jobs"})):
        offered = [v for (k, v), what in found.items() if k == kind and needs <= what]
        newest[kind] = "v" + ".".join(map(str, max(offered))) if offered else None
    if newest["slurm"] is None:
        raise ValueError("the server's OpenAPI document offers no /slurm/vX/nodes and /slurm/vX/jobs")
    return newest


def parse_nodes(answer: dict) -> list[dict]:
    """Nodes with their state and GPU allocation, by name."""
    nodes = []
    for n in answer.get("nodes", []):
        nodes.append(
            {
                "name": n["name"],
                "state": state(n.get("state"), n.get("state_flags", [])),
                "gpus": gpus_in_gres(n.get("gres")),
                "gpus_used": gpus_in_gres(n.get("gres_used")),
                "gres": n.get("gres") or "",
                "cpus": n.get("cpus"),
                "cpus_used": n.get("alloc_cpus"),
                "reason": n.get("reason") or "",
            }
        )
    return sorted(nodes, key=lambda n: n["name"])


def parse_jobs(answer: dict, now: float) -> dict:
    """slurmctld's jobs split into the running ones and the queue (pending), oldest first."""
    running, queue = [], []
    for j in answer.get("jobs", []):
        job_state = state(j.get("job_state")).split("+")[0]
        start = number(j.get("start_time")) or 0
        row = {
            "id": j["job_id"],
            "name": j.get("name", ""),
            "user": j.get("user_name", ""),
            "partition": j.get("partition", ""),
            "state": job_state,
            "nodes": j.get("nodes") or "",
            "gpus": tres_gpus(j.get("tres_alloc_str")) or tres_gpus(j.get("tres_req_str")),
            "start": start if job_state != "PENDING" and start else None,  # pending: an estimate
            "elapsed": int(now - start) if start and job_state == "RUNNING" else None,
            "reason": j.get("state_reason", ""),
            "gres_detail": j.get("gres_detail") or [],
        }
        if job_state == "PENDING":
            queue.append(row)
        elif job_state in ACTIVE_STATES:
            running.append(row)
    return {"running": sorted(running, key=lambda r: r["id"]), "queue": sorted(queue, key=lambda r: r["id"])}


def parse_history(answer: dict, rows: int = HISTORY_ROWS) -> list[dict]:
    """slurmdbd's finished jobs, newest first, with the GPUs they were given."""
    finished = []
    for j in answer.get("jobs", []):
        job_state = state(j.get("state", {}).get("current")).split("+")[0]
        times = j.get("time", {})
        end = number(times.get("end")) or 0
        if job_state in ACTIVE_STATES or not end:
            continue
        finished.append(
            {
                "id": j["job_id"],
                "name": j.get("name", ""),
                "user": j.get("user", ""),
                "partition": j.get("partition", ""),
                "state": job_state,
                "nodes": j.get("nodes") or "",
                "gpus": tres_list_gpus(j.get("tres", {}).get("allocated")),
                "start": number(times.get("start")) or None,
                "end": end,
                "elapsed": number(times.get("elapsed")),
            }
        )
    return sorted(finished, key=lambda r: (r["end"], r["id"]), reverse=True)[:rows]


def gpu_hours(answer: dict) -> dict[str, float]:
    """GPU-hours per user in slurmdbd's jobs: GPUs allocated x elapsed seconds / 3600.

    Finished jobs and those still running (elapsed so far, as slurmdbd computes it) count, each job
    id once. A job counts whole, also the part of it before the window it was fetched for.
    """
    seconds: dict[str, int] = {}
    for j in {j["job_id"]: j for j in answer.get("jobs", [])}.values():
        gpus = tres_list_gpus(j.get("tres", {}).get("allocated"))
        elapsed = number(j.get("time", {}).get("elapsed")) or 0
        user = j.get("user", "")
        seconds[user] = seconds.get(user, 0) + gpus * elapsed
    return {user: s / 3600 for user, s in seconds.items()}


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_shares(text: str) -> list[dict]:
    """The user rows of `sshare -a -P -o Account,User,RawUsage,FairShare`, in its order.

    Account rows (no user) and the header are left out; the account loses the spaces that show its
    depth in the tree. fair_share is Slurm's factor, 0 to 1: higher starts sooner.
    """
    shares = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 4 or not fields[1] or fields[:2] == ["Account", "User"]:
            continue
        account, user, raw, fair = fields[:4]
        shares.append(
            {
                "account": account,
                "user": user,
                "raw_usage": int(raw) if raw.isdigit() else None,
                "fair_share": _float(fair),
            }
        )
    return shares


def parse_people(running: list[dict], hours: dict | None, shares: list[dict] | None) -> list[dict]:
    """Who uses what: one row per user of the running jobs, slurmdbd's jobs or sshare, root left out.

    gpus_now sums the running jobs' GPUs; gpu_hours is None without accounting, fair_share and
    raw_usage None without sshare. A person in several accounts gets them joined, the highest
    factor (their best-placed association) and the raw usages summed. Most GPUs now first, then
    most GPU-hours.
    """
    people: dict[str, dict] = {}

    def person(name: str) -> dict:
        empty = {"account": "", "gpus_now": 0, "gpu_hours": None if hours is None else 0.0}
        return people.setdefault(name, {"name": name, **empty, "fair_share": None, "raw_usage": None})

    for j in running:
        person(j["user"])["gpus_now"] += j["gpus"] or 0
    for user, used in (hours or {}).items():
        person(user)["gpu_hours"] = used
    for s in shares or []:
        p = person(s["user"])
        p["account"] = ", ".join(a for a in (p["account"], s["account"]) if a)
        if s["fair_share"] is not None:
            p["fair_share"] = max(p["fair_share"] or 0.0, s["fair_share"])
        if s["raw_usage"] is not None:
            p["raw_usage"] = (p["raw_usage"] or 0) + s["raw_usage"]
    rows = [p for name, p in people.items() if name and name != "root"]
    return sorted(rows, key=lambda p: (-p["gpus_now"], -(p["gpu_hours"] or 0), p["name"]))


def release(answer: dict) -> str:
    """The Slurm release that answered: '24.11.5'."""
    meta = answer.get("meta", {})
    return (meta.get("slurm") or meta.get("Slurm") or {}).get("release", "")


# -- slurmrestd, with a token of our own -----------------------------------------------------------


class SlurmError(Exception):
    """slurmrestd or scontrol failed; the message never holds the token."""


class Token:
    """A JWT for this process's user from `scontrol token`, renewed once two thirds of it have passed."""

    def __init__(self, lifespan: int = 600, run=subprocess.run, clock=time.time):
        self.lifespan, self._run, self._clock = lifespan, run, clock
        self._value: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._value is None or self._clock() >= self._renew_at:
                self._value = self._fetch()
                self._renew_at = self._clock() + self.lifespan * 2 / 3
            return self._value

    def invalidate(self) -> None:
        with self._lock:
            self._value = None

    def _fetch(self) -> str:
        done = self._run(
            ["scontrol", "token", f"lifespan={self.lifespan}"], capture_output=True, text=True, timeout=30
        )
        value = done.stdout.strip().removeprefix("SLURM_JWT=")
        if done.returncode != 0 or not value or "\n" in value:
            raise SlurmError(f"scontrol token failed: {done.stderr.strip()[:200] or done.returncode}")
        return value


def read_shares(run=subprocess.run) -> list[dict]:
    """Every association's fair-share standing from `sshare` (see parse_shares); SlurmError if it fails."""
    try:
        done = run(SSHARE, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SlurmError(f"sshare failed: {exc}") from None
    if done.returncode != 0:
        raise SlurmError(f"sshare failed: {done.stderr.strip()[:200] or done.returncode}")
    return parse_shares(done.stdout)


class GpuUse:
    """Finished GPU jobs' use of their GPUs (jobstats.py), asked of Prometheus once per job: a finished
    job's figures never change. Asked only once its last readings can have been scraped."""

    def __init__(self, prometheus: jobstats.Prometheus, step_s: int):
        self.prometheus, self.step_s = prometheus, step_s
        self.known: dict[int, dict | None] = {}

    def annotate(self, history: list[dict], now: float) -> str | None:
        """Add each row's "gpu_use" (None: not asked yet; False: no readings); an error stops the round."""
        wanted = {row["id"] for row in history}
        self.known = {k: v for k, v in self.known.items() if k in wanted}
        for row in history:
            row["gpu_use"] = self.known.get(row["id"])
            if not row["gpus"] or row["id"] in self.known or not row["start"]:
                continue
            if now < row["end"] + 2 * self.step_s:
                continue
            try:
                per_gpu = jobstats.efficiency(
                    self.prometheus, row["id"], row["start"], row["end"], self.step_s
                )
            except jobstats.PrometheusError as exc:
                return str(exc)
            row["gpu_use"] = self.known[row["id"]] = jobstats.summary(per_gpu) or False  # False: no readings
        return None


class SlurmRest:
    """GETs against slurmrestd as one user; a refused token is renewed and the request tried once more.

    run runs sshare for the snapshot's fair-share column (tests pass a fake).
    """

    def __init__(
        self,
        url: str,
        token: Token,
        user: str,
        timeout: float = 20,
        run=subprocess.run,
        gres_conf: str = "/etc/slurm/gres.conf",
        gpu_use: GpuUse | None = None,
    ):
        self.url, self.token, self.user, self.timeout = url.rstrip("/"), token, user, timeout
        self._run, self.gres_conf, self.gpu_use = run, gres_conf, gpu_use
        self._versions: dict | None = None

    def get(self, path: str) -> dict:
        for attempt in (1, 2):
            status, answer = self._request(path)
            if status == 200:
                return answer
            # 401 without a valid token; 22.05 answers a refused token with 500, 24.11 with 511.
            if attempt == 1 and status in (401, 500, 511):
                self.token.invalidate()
                continue
            errors = "; ".join(
                e.get("error", "") or e.get("description", "") for e in answer.get("errors", [])
            )
            raise SlurmError(
                f"slurmrestd answered {status} for {path.split('?')[0]}: {errors or 'no details'}"
            )
        raise AssertionError("unreachable")

    def _request(self, path: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.url + path,
            headers={"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": self.token.get()},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}
        except (urllib.error.URLError, OSError) as exc:
            raise SlurmError(f"slurmrestd at {self.url} unreachable: {getattr(exc, 'reason', exc)}") from None

    def versions(self) -> dict:
        if self._versions is None:
            self._versions = api_versions(self.get("/openapi/v3"))
        return self._versions

    def live(self, now: float) -> dict:
        """Nodes, running and queued jobs and the GPUs they hold: two calls, all /metrics needs."""
        try:
            versions = self.versions()
            nodes = self.get(f"/slurm/{versions['slurm']}/nodes")
        except SlurmError:
            self._versions = None  # slurmrestd may have been upgraded: read its versions again
            raise
        jobs = parse_jobs(self.get(f"/slurm/{versions['slurm']}/jobs"), now)
        try:
            with open(self.gres_conf) as f:
                minors = gres_minors(f.read())
        except OSError:
            minors = {}  # GPU indices as Slurm counts them, which match minors on a plain gres.conf
        held = [
            {"jobid": job["id"], "user": job["user"], "node": node, "gpu": gpu}
            for job in jobs["running"]
            if job["state"] == "RUNNING"
            for node, gpu in job_gpus(job, minors)
        ]
        return {
            "release": release(nodes),
            "api": versions,
            "updated": now,
            "nodes": parse_nodes(nodes),
            **jobs,
            "gpus_held": held,
        }

    def snapshot(self, now: float) -> dict:
        """The whole page's model: one call per endpoint, with slurmdbd's history and sshare."""
        model = self.live(now)
        versions = model["api"]
        history, hours, history_error = None, None, None
        if versions["slurmdb"]:
            try:
                accounting = self.get(f"/slurmdb/{versions['slurmdb']}/jobs?start_time={USAGE_WINDOW}")
                history, hours = parse_history(accounting), gpu_hours(accounting)
            except SlurmError as exc:
                history_error = str(exc)
        else:
            history_error = "slurmrestd serves no accounting (slurmdbd) API"
        shares, shares_error = None, None
        try:
            shares = read_shares(self._run)
        except SlurmError as exc:
            shares_error = str(exc)  # the rest of the page does not need it
        gpu_use_error = self.gpu_use.annotate(history, now) if self.gpu_use and history else None
        return {
            **model,
            "history": history,
            "history_error": history_error,
            "people": parse_people(model["running"], hours, shares),
            "shares_error": shares_error,
            "gpu_use": self.gpu_use is not None,
            "gpu_use_error": gpu_use_error,
        }


# -- the page --------------------------------------------------------------------------------------


def _when(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    return (f"{days}-" if days else "") + time.strftime("%H:%M:%S", time.gmtime(rest))


def _table(
    section: str,
    row: str,
    title: str,
    columns: list[tuple[str, str]],
    rows: list[dict],
    empty: str,
    notes: list[str] | None = None,
) -> str:
    """A section of the page; each row's id is row-<job id or name>, for tests and bookmarks."""
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in columns)
    body = "".join(
        f'<tr id="{row}-{html.escape(str(r.get("id", r.get("name"))))}">'
        + "".join(
            f"<td>{html.escape(str(r.get(key, '') if r.get(key) is not None else ''))}</td>"
            for _, key in columns
        )
        + "</tr>"
        for r in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(columns)}" class="empty">{html.escape(empty)}</td></tr>'
    paragraphs = "".join(f'<p class="note">{html.escape(note)}</p>' for note in notes or [])
    return (
        f'<section id="{section}"><h2>{html.escape(title)}</h2>{paragraphs}'
        f"<table><tr>{head}</tr>{body}</table></section>"
    )


def _people_notes(model: dict) -> list[str]:
    """What the People columns mean, and which of them could not be had this time."""
    notes = [
        f"GPUs now: in running jobs. GPU-hours: GPUs x elapsed time of the jobs of the last {USAGE_DAYS} "
        "days (a running job so far). Fair share: 0 to 1, higher starts sooner."
    ]
    if model["history_error"]:
        notes.append(f"GPU-hours unavailable: {model['history_error']}")
    if model.get("shares_error"):
        notes.append(f"Fair share unavailable: {model['shares_error']}")
    return notes


def _gpu_use_cells(job: dict) -> dict:
    """A finished job's GPU use for its row: '87% (95%)', or the mark of a GPU held idle."""
    use = job.get("gpu_use")
    if not job["gpus"] or "gpu_use" not in job:
        return {}
    if not use:
        return {"gpu_util": "not yet" if use is None else "no readings", "gpu_mem": ""}
    util = (
        f"{100 * use['util_mean']:.0f}% ({100 * use['util_peak']:.0f}%)"
        if use["util_mean"] is not None
        else ""
    )
    if use["marked"]:
        util = f"IDLE: under {jobstats.IDLE_BELOW:.0%} for {100 * use['idle_share']:.0f}% of its run; {util}"
    mem = f"{use['mem_peak'] / 2**30:.1f} GiB" if use["mem_peak"] is not None else ""
    return {"gpu_util": util, "gpu_mem": mem}


def _gpu_use_notes(model: dict) -> list[str]:
    if not model.get("gpu_use"):
        return []
    notes = [
        "GPU use: each GPU job's GPUs over its run, from Prometheus (gpucluster-jobstats JOBID on node0 "
        f"shows it per GPU); IDLE: under {jobstats.IDLE_BELOW:.0%} busy for more than half of its run."
    ]
    if model.get("gpu_use_error"):
        notes.append(f"GPU use unavailable: {model['gpu_use_error']}")
    return notes


def render_page(
    model: dict | None, cluster: str, refresh_s: int, error: str | None = None, pictures: tuple | None = None
) -> str:
    """The page; `pictures` (SVG charts, an error) when there is a Prometheus to draw them from."""
    """The one HTML page: reloads itself every refresh_s seconds, holds only the model's fields."""
    parts = []
    if error:
        parts.append(f'<p class="error">{html.escape(error)}</p>')
    if model:
        nodes = [
            {**n, "gpu_use": f"{n['gpus_used']}/{n['gpus']}", "cpu_use": f"{n['cpus_used']}/{n['cpus']}"}
            for n in model["nodes"]
        ]
        running = [
            {**j, "since": _when(j["start"]), "for": _duration(j["elapsed"])} for j in model["running"]
        ]
        history = [
            {**j, "ended": _when(j["end"]), "took": _duration(j["elapsed"]), **_gpu_use_cells(j)}
            for j in model["history"] or []
        ]
        gpu_use_columns = [("GPU use, mean (peak)", "gpu_util"), ("GPU memory, peak", "gpu_mem")]
        people = [
            {
                **p,
                "hours": "" if p["gpu_hours"] is None else f"{p['gpu_hours']:.1f}",
                "share": "" if p["fair_share"] is None else f"{p['fair_share']:.3f}",
            }
            for p in model.get("people") or []
        ]
        parts += [
            _table(
                "nodes",
                "node",
                "Nodes",
                [
                    ("Node", "name"),
                    ("State", "state"),
                    ("GPUs used", "gpu_use"),
                    ("GRES", "gres"),
                    ("CPUs used", "cpu_use"),
                    ("Reason", "reason"),
                ],
                nodes,
                "no nodes",
            ),
            _table(
                "running",
                "running",
                "Running jobs",
                [
                    ("Job", "id"),
                    ("Name", "name"),
                    ("User", "user"),
                    ("State", "state"),
                    ("Nodes", "nodes"),
                    ("GPUs", "gpus"),
                    ("Started", "since"),
                    ("Running for", "for"),
                ],
                running,
                "no job is running",
            ),
            _table(
                "queue",
                "pending",
                "Queue",
                [("Job", "id"), ("Name", "name"), ("User", "user"), ("GPUs", "gpus"), ("Reason", "reason")],
                model["queue"],
                "no job is waiting",
            ),
            _table(
                "people",
                "person",
                "People",
                [
                    ("Person", "name"),
                    ("Account", "account"),
                    ("GPUs now", "gpus_now"),
                    (f"GPU-hours ({USAGE_DAYS} days)", "hours"),
                    ("Fair share", "share"),
                ],
                people,
                f"nobody has run a job in the last {USAGE_DAYS} days",
                _people_notes(model),
            ),
            _table(
                "history",
                "finished",
                "Recently finished",
                [
                    ("Job", "id"),
                    ("Name", "name"),
                    ("User", "user"),
                    ("State", "state"),
                    ("Nodes", "nodes"),
                    ("GPUs", "gpus"),
                    ("Ended", "ended"),
                    ("Took", "took"),
                    *(gpu_use_columns if model.get("gpu_use") else []),
                ],
                history,
                model["history_error"] or f"no job finished in the last {USAGE_DAYS} days",
                _gpu_use_notes(model),
            ),
        ]
        if pictures:
            svgs, trouble = pictures
            note = f'<p class="error">charts unavailable: {html.escape(trouble)}</p>' if trouble else ""
            parts.append(f'<section id="charts"><h2>Over time</h2>{note}{"".join(svgs)}</section>')
        footer = (
            f"Slurm {model['release']}, API {model['api']['slurm']}"
            f"{' / ' + model['api']['slurmdb'] if model['api']['slurmdb'] else ''}; "
            f"updated {_when(model['updated'])}; reloads every {refresh_s} s"
        )
        parts.append(f"<footer>{html.escape(footer)}</footer>")
    title = html.escape(f"{cluster} cluster")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{int(refresh_s)}">
<title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: .25em .6em; text-align: left; }}
th {{ background: #eee; }} .empty {{ color: #777; }} .error {{ color: #a00; font-weight: bold; }}
footer {{ color: #777; }}
</style></head>
<body><h1>{title}</h1>
{"".join(parts)}
</body></html>
"""


# -- Slurm's state for Prometheus ------------------------------------------------------------------


def _labels(**labels) -> str:
    """{node="node0",state="IDLE"}, escaped as Prometheus's text format wants."""

    def quote(value) -> str:
        return str(value).replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")

    return "{" + ",".join(f'{k}="{quote(v)}"' for k, v in labels.items()) + "}" if labels else ""


def render_metrics(model: dict | None, error: str | None) -> str:
    """Prometheus's text format: nodes by state, GPUs per node, jobs and GPUs per person.

    All of it from the same model as the page; when slurmrestd did not answer this time, only
    gpucluster_slurm_up 0 (a stale figure would pass for a current one).
    """
    families: dict[str, tuple[str, list[tuple[dict, float]]]] = {}

    def add(name: str, doc: str, value: float, **labels):
        families.setdefault(f"gpucluster_slurm_{name}", (doc, []))[1].append((labels, value))

    add("up", "1: slurmrestd answered the last read", 0 if error or not model else 1)
    if model and not error:
        for node in model["nodes"]:
            add(
                "node_state",
                "1 for the node's current state (Slurm's words, + flags)",
                1,
                node=node["name"],
                state=node["state"],
            )
            add("node_gpus", "GPUs the node has (gres)", node["gpus"], node=node["name"])
            add("node_gpus_allocated", "GPUs given to jobs on the node", node["gpus_used"], node=node["name"])
        for held in model.get("gpus_held", []):
            add("job_gpu", "1 while a job holds this GPU (its minor number)", 1, **held)
        base = [n["state"].split("+")[0] for n in model["nodes"]]
        for name in sorted(set(base)):
            add("nodes", "nodes by base state", base.count(name), state=name.lower())
        add("jobs", "jobs by state", len(model["running"]), state="running")
        add("jobs", "jobs by state", len(model["queue"]), state="pending")
        users = sorted({j["user"] for j in model["running"] + model["queue"]})
        for user in users:
            add(
                "user_jobs",
                "a person's jobs by state",
                sum(j["user"] == user for j in model["running"]),
                user=user,
                state="running",
            )
            add(
                "user_jobs",
                "a person's jobs by state",
                sum(j["user"] == user for j in model["queue"]),
                user=user,
                state="pending",
            )
            gpus = sum(j["gpus"] for j in model["running"] if j["user"] == user and j["state"] == "RUNNING")
            add("user_gpus_allocated", "GPUs held by a person's running jobs", gpus, user=user)
    lines = []
    for name, (doc, samples) in families.items():
        lines += [f"# HELP {name} {doc}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels(**labels)} {value}" for labels, value in samples]
    return "\n".join(lines) + "\n"


# -- the server ------------------------------------------------------------------------------------


class Cached:
    """A reading refreshed at most every max_age seconds however many clients ask; on an error the
    last good value stays (keep=True) or is dropped (keep=False), and the error is returned with it."""

    def __init__(self, read, max_age: float, errors: tuple, keep: bool = True, empty=None, clock=time.time):
        self.read, self.max_age, self.errors, self.keep, self._clock = read, max_age, errors, keep, clock
        self._value, self._empty, self._error, self._at = empty, empty, None, None
        self._lock = threading.Lock()

    def current(self):
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self.max_age:
                try:
                    self._value, self._error = self.read(now), None
                except self.errors as exc:
                    self._value, self._error = (self._value if self.keep else self._empty), str(exc)
                self._at = now
            return self._value, self._error


def pictures(url: str, max_age: float = 60) -> Cached:
    """The charts (charts.py); the last good ones stay when Prometheus does not answer."""

    def draw(now: float) -> list[str]:
        try:
            return charts.draw(url, now)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"Prometheus at {url}: {exc}") from exc

    return Cached(draw, max_age, (ValueError,), empty=[])


class View:
    """The page's model (the last good one stays on the page with the error) and, for /metrics,
    scraped every few seconds, nodes and jobs only (no slurmdbd, no sshare; dropped on error)."""

    def __init__(self, rest: SlurmRest, max_age: float, clock=time.time):
        self.rest = rest
        self._page = Cached(rest.snapshot, max_age, (SlurmError, ValueError), clock=clock)
        self._live = Cached(rest.live, max_age, (SlurmError, ValueError), keep=False, clock=clock)

    def current(self) -> tuple[dict | None, str | None]:
        return self._page.current()

    def live(self) -> tuple[dict | None, str | None]:
        return self._live.current()


def handler(view: View, allowed: list, cluster: str, refresh_s: int, charts_of: Cached | None = None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "gpucluster-webview"
        sys_version = ""

        def do_GET(self):  # noqa: N802 (http.server's name)
            if not any(ip_address(self.client_address[0]) in net for net in allowed):
                return self._send(403, "text/plain", b"forbidden: outside the cluster network\n")
            path = self.path.split("?")[0]
            if path not in ("/", "/api/state", "/metrics"):
                return self._send(404, "text/plain", b"not found\n")
            if path == "/metrics":
                live, trouble = view.live()
                return self._send(200, "text/plain; version=0.0.4", render_metrics(live, trouble).encode())
            model, error = view.current()
            if path == "/api/state":
                body = json.dumps({"model": model, "error": error}).encode()
                return self._send(200 if model else 503, "application/json", body)
            page = render_page(model, cluster, refresh_s, error, charts_of.current() if charts_of else None)
            return self._send(200 if model else 503, "text/html; charset=utf-8", page.encode())

        def _send(self, status: int, kind: str, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 (http.server's name)
            pass  # the journal gets errors only, not every reload

    return Handler


def main() -> None:
    env = os.environ
    refresh_s = int(env.get("WEBVIEW_REFRESH_S", "10"))
    allowed = [ip_network(n.strip()) for n in env.get("WEBVIEW_ALLOW", "127.0.0.0/8").split(",") if n.strip()]
    user = pwd.getpwuid(os.geteuid()).pw_name
    token = Token(int(env.get("TOKEN_LIFESPAN_S", "600")))
    scrape_s = int(env.get("SCRAPE_S", "15"))
    gpu_use = (
        GpuUse(jobstats.Prometheus(env["PROMETHEUS_URL"]), scrape_s) if env.get("PROMETHEUS_URL") else None
    )
    rest = SlurmRest(env.get("SLURMRESTD_URL", "http://127.0.0.1:6820"), token, user, gpu_use=gpu_use)
    view = View(rest, max_age=min(5, refresh_s / 2))
    cluster = env.get("CLUSTER_NAME", "slurm")
    server = ThreadingHTTPServer(
        (env.get("WEBVIEW_LISTEN", "127.0.0.1"), int(env.get("WEBVIEW_PORT", "8080"))),
        handler(
            view,
            allowed,
            cluster,
            refresh_s,
            pictures(env["PROMETHEUS_URL"]) if env.get("PROMETHEUS_URL") else None,
        ),
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
