"""The cluster's web view: nodes, queue, running jobs and recent finished jobs, from slurmrestd.

Standard library only, so it runs on the controller's own python3 (steps/webview.py installs it as
a systemd service). It asks slurmrestd with a short-lived JWT that it gets from `scontrol token`
as its own service user and renews before it expires; the browser gets rendered HTML and a JSON
model of the cluster, never the token. The API version is read from the server's OpenAPI
document (Slurm 22.05, 23.11 and 24.11 each speak different ones). Only clients in the allowed
networks (the cluster network by default) are answered.

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

HISTORY_WINDOW = "now-1days"  # slurmdbd jobs this recent (sacct's time syntax, every release)
HISTORY_ROWS = 25
ACTIVE_STATES = {"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING"}

_VERSIONED = re.compile(r"^/(slurm|slurmdb)/v(\d+)\.(\d+)\.(\d+)/(nodes|jobs)/?$")
_GRES = re.compile(r"(?P<name>[^:,()]+)(?::(?P<type>[^:,()]+))?:(?P<count>\d+)(?:\([^)]*\))?")
_TRES_GPU = re.compile(r"(?:^|,)gres/gpu(?::[^=,]+)?=(\d+)")


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


class SlurmRest:
    """GETs against slurmrestd as one user; a refused token is renewed and the request tried once more."""

    def __init__(self, url: str, token: Token, user: str, timeout: float = 20):
        self.url, self.token, self.user, self.timeout = url.rstrip("/"), token, user, timeout
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

    def snapshot(self, now: float) -> dict:
        """The whole page's model: one call per endpoint."""
        try:
            versions = self.versions()
            nodes = self.get(f"/slurm/{versions['slurm']}/nodes")
        except SlurmError:
            self._versions = None  # slurmrestd may have been upgraded: read its versions again
            raise
        jobs = self.get(f"/slurm/{versions['slurm']}/jobs")
        history, history_error = None, None
        if versions["slurmdb"]:
            try:
                history = parse_history(
                    self.get(f"/slurmdb/{versions['slurmdb']}/jobs?start_time={HISTORY_WINDOW}")
                )
            except SlurmError as exc:
                history_error = str(exc)
        else:
            history_error = "slurmrestd serves no accounting (slurmdbd) API"
        return {
            "release": release(nodes),
            "api": versions,
            "updated": now,
            "nodes": parse_nodes(nodes),
            **parse_jobs(jobs, now),
            "history": history,
            "history_error": history_error,
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
    section: str, row: str, title: str, columns: list[tuple[str, str]], rows: list[dict], empty: str
) -> str:
    """A section of the page; each row's id is row-<job id or node name>, for tests and bookmarks."""
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
    return (
        f'<section id="{section}"><h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table></section>'
    )


def render_page(model: dict | None, cluster: str, refresh_s: int, error: str | None = None) -> str:
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
            {**j, "ended": _when(j["end"]), "took": _duration(j["elapsed"])} for j in model["history"] or []
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
                ],
                history,
                model["history_error"] or "no job finished in the last day",
            ),
        ]
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


# -- the server ------------------------------------------------------------------------------------


class View:
    """The cached model, refreshed at most every max_age seconds however many browsers look."""

    def __init__(self, rest: SlurmRest, max_age: float, clock=time.time):
        self.rest, self.max_age, self._clock = rest, max_age, clock
        self._model: dict | None = None
        self._error: str | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def current(self) -> tuple[dict | None, str | None]:
        with self._lock:
            now = self._clock()
            if now - self._at >= self.max_age:
                try:
                    self._model, self._error = self.rest.snapshot(now), None
                except (SlurmError, ValueError) as exc:
                    self._error = str(exc)  # the last good model stays on the page, with the error
                self._at = now
            return self._model, self._error


def handler(view: View, allowed: list, cluster: str, refresh_s: int):
    class Handler(BaseHTTPRequestHandler):
        server_version = "gpucluster-webview"
        sys_version = ""

        def do_GET(self):  # noqa: N802 (http.server's name)
            if not any(ip_address(self.client_address[0]) in net for net in allowed):
                return self._send(403, "text/plain", b"forbidden: outside the cluster network\n")
            path = self.path.split("?")[0]
            if path not in ("/", "/api/state"):
                return self._send(404, "text/plain", b"not found\n")
            model, error = view.current()
            if path == "/api/state":
                body = json.dumps({"model": model, "error": error}).encode()
                return self._send(200 if model else 503, "application/json", body)
            page = render_page(model, cluster, refresh_s, error)
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
    rest = SlurmRest(env.get("SLURMRESTD_URL", "http://127.0.0.1:6820"), token, user)
    view = View(rest, max_age=min(5, refresh_s / 2))
    cluster = env.get("CLUSTER_NAME", "slurm")
    server = ThreadingHTTPServer(
        (env.get("WEBVIEW_LISTEN", "127.0.0.1"), int(env.get("WEBVIEW_PORT", "8080"))),
        handler(view, allowed, cluster, refresh_s),
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
