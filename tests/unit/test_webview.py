"""The web view (webview/app.py) on real slurmrestd answers of Slurm 22.05 and 24.11, and on 23.11's.

The answers in tests/unit/data/slurmrestd/ were recorded on one-node probes of the rig's images
(see the README there): four jobs, a finished one with a GPU, a finished one without, a running
one with a GPU and a pending one waiting for it. 23.11 (Ubuntu 24.04's, API v0.0.40) runs on no rig:
its answers are 24.11's with 23.11's versions (23.11/ is built by build_23.11.py there, which says why).
All their jobs are root's; the People tests give them to a person where they need one. The sshare
output in tests/unit/data/sshare/ has 22.05's form (its README says what it is).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
from ipaddress import ip_network
from pathlib import Path
from types import SimpleNamespace

import pytest

from webview import app

DATA = Path(__file__).parent / "data" / "slurmrestd"
SSHARE = (Path(__file__).parent / "data" / "sshare" / "22.05.txt").read_text()
RELEASES = {"22.05": ("22.05.8", "v0.0.38"), "23.11": ("23.11.4", "v0.0.40"), "24.11": ("24.11.5", "v0.0.42")}
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJncHVjbHVzdGVyLXdlYiJ9.NOT-A-REAL-SIGNATURE"


def recorded(release: str, name: str) -> dict:
    return json.loads((DATA / release / f"{name}.json").read_text())


def sshare(stdout: str = SSHARE, returncode: int = 0, stderr: str = "", calls: list | None = None):
    """A fake subprocess.run that answers as sshare would."""

    def run(argv, **_):
        if calls is not None:
            calls.append(argv)
        return SimpleNamespace(returncode=returncode, stdout=stdout, stderr=stderr)

    return run


@pytest.mark.parametrize("release", RELEASES)
def test_the_newest_api_version_is_read_from_the_server(release):
    versions = app.api_versions(recorded(release, "openapi_v3"))
    assert versions == {"slurm": RELEASES[release][1], "slurmdb": RELEASES[release][1]}


def test_version_discovery_needs_nodes_and_jobs_and_tolerates_no_accounting():
    paths = {"/slurm/v0.0.41/nodes/": {}, "/slurm/v0.0.41/jobs/": {}, "/slurm/v0.0.42/nodes/": {}}
    assert app.api_versions({"paths": paths}) == {"slurm": "v0.0.41", "slurmdb": None}
    with pytest.raises(ValueError, match="no /slurm/vX/nodes"):
        app.api_versions({"paths": {"/openapi/v3": {}}})


@pytest.mark.parametrize("release", RELEASES)
def test_nodes_show_their_state_and_gpu_allocation(release):
    assert app.release(recorded(release, "nodes")) == RELEASES[release][0]
    assert app.parse_nodes(recorded(release, "nodes")) == [
        {
            "name": "node0",
            "state": "MIXED",
            "gpus": 1,
            "gpus_used": 1,
            "gres": "gpu:rtx5090:1",
            "cpus": 2,
            "cpus_used": 1,
            "reason": "",
        }
    ]


@pytest.mark.parametrize("release", RELEASES)
def test_jobs_split_into_running_and_queue(release):
    jobs = app.parse_jobs(recorded(release, "jobs"), now=2_000_000_000)
    (running,) = jobs["running"]
    (pending,) = jobs["queue"]
    assert (running["id"], running["name"], running["state"], running["nodes"], running["gpus"]) == (
        3,
        "run-gpu",
        "RUNNING",
        "node0",
        1,
    )
    assert running["elapsed"] == 2_000_000_000 - running["start"]
    assert (pending["id"], pending["gpus"], pending["reason"], pending["start"]) == (4, 1, "Resources", None)


@pytest.mark.parametrize("release", RELEASES)
def test_history_lists_finished_jobs_newest_first_with_their_gpus(release):
    history = app.parse_history(recorded(release, "slurmdb_jobs"))
    assert [(j["id"], j["name"], j["state"], j["gpus"]) for j in history] == [
        (2, "done-cpu", "COMPLETED", 0),
        (1, "done-gpu", "COMPLETED", 1),
    ]
    assert all(j["end"] >= j["start"] for j in history)


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [
        ("gpu:rtx5090:1", 1),
        ("gpu:rtx5090:1(IDX:0)", 1),
        ("gpu:rtx5090:2(IDX:0,2)", 2),
        ("gpu:a:1(S:0),gpu:b:2(S:1)", 3),
        ("gpu:1", 1),
        ("gpu:rtx5090:0(IDX:N/A)", 0),
        ("mps:100,gpu:rtx5090:1", 1),
        ("", 0),
        ("(null)", 0),
        (None, 0),
    ],
)
def test_gres_strings(gres, gpus):
    assert app.gpus_in_gres(gres) == gpus


def test_tres_strings():
    assert app.tres_gpus("cpu=1,mem=1000M,node=1,billing=1,gres/gpu=1") == 1
    assert app.tres_gpus("cpu=2,gres/gpu:rtx5090=2") == 2
    assert app.tres_gpus("cpu=2,gres/gpu=2,gres/gpu:rtx5090=2") == 2
    assert app.tres_gpus("cpu=1,mem=1000M") == 0


def test_the_token_is_renewed_after_two_thirds_of_its_life():
    now = [1000.0]
    calls = []

    def run(argv, **_):
        calls.append(argv)
        return SimpleNamespace(returncode=0, stdout=f"SLURM_JWT=token{len(calls)}\n", stderr="")

    token = app.Token(lifespan=600, run=run, clock=lambda: now[0])
    assert token.get() == "token1"
    assert calls == [["scontrol", "token", "lifespan=600"]]
    now[0] += 399
    assert token.get() == "token1"
    now[0] += 2
    assert token.get() == "token2"
    token.invalidate()
    assert token.get() == "token3"


def test_a_failed_token_request_does_not_repeat_scontrols_output():
    def run(argv, **_):
        return SimpleNamespace(
            returncode=1, stdout="SLURM_JWT=half-written", stderr="slurm_load_ctl_conf error"
        )

    with pytest.raises(app.SlurmError) as failed:
        app.Token(run=run).get()
    assert "half-written" not in str(failed.value)


class FakeToken(app.Token):
    def __init__(self):
        super().__init__(lifespan=600, run=None)
        self.fetched = 0

    def _fetch(self):
        self.fetched += 1
        return TOKEN


class Recorded(app.SlurmRest):
    """slurmrestd answering from the recordings of one release; refuses the first request once."""

    def __init__(self, release: str, refuse_first: bool = False, run=None):
        super().__init__("http://slurmrestd.invalid:6820", FakeToken(), "gpucluster-web", run=run or sshare())
        self.release, self.refuse, self.paths = release, refuse_first, []

    def _request(self, path):
        self.token.get()  # as the real request does: a token for every request
        self.paths.append(path)
        if self.refuse:
            self.refuse = False
            # 22.05 and 23.11 answer a refused token with 500, 24.11 with 511 (src/slurmrestd/operations.c)
            return (511 if self.release == "24.11" else 500), recorded(self.release, "nodes_forged_token")
        if path.startswith("/slurmdb/"):
            return 200, recorded(self.release, "slurmdb_jobs")
        endpoint = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        return 200, recorded(self.release, {"v3": "openapi_v3"}.get(endpoint, endpoint))


@pytest.mark.parametrize("release", RELEASES)
def test_a_refused_token_is_renewed_and_the_request_repeated(release):
    rest = Recorded(release, refuse_first=True)
    model = rest.snapshot(now=2_000_000_000)
    assert rest.token.fetched == 2
    version = RELEASES[release][1]
    assert rest.paths[-3:] == [
        f"/slurm/{version}/nodes",
        f"/slurm/{version}/jobs",
        f"/slurmdb/{version}/jobs?start_time=now-7days",
    ]
    assert [n["name"] for n in model["nodes"]] == ["node0"]


@pytest.fixture
def serve():
    servers = []

    def start(rest, allowed=("127.0.0.0/8",)):
        view = app.View(rest, max_age=5)
        handler = app.handler(view, [ip_network(n) for n in allowed], "gpucluster", 10)
        server = app.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.mark.parametrize("release", RELEASES)
def test_the_page_shows_the_cluster_and_never_the_token(serve, release):
    url = serve(Recorded(release))
    status, headers, page = fetch(url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="10">' in page
    for row in ('id="node-node0"', 'id="running-3"', 'id="pending-4"', 'id="finished-1"', 'id="finished-2"'):
        assert row in page
    assert 'id="people"' in page
    assert cells(page, "person-ada") == ["ada", "research", "0", "0.0", "0.250"]
    assert 'id="person-root"' not in page  # the recordings' jobs are root's
    assert f"Slurm {RELEASES[release][0]}" in page
    status, _, state = fetch(url + "/api/state")
    assert status == 200
    assert json.loads(state)["model"]["nodes"][0]["gpus_used"] == 1
    assert [p["name"] for p in json.loads(state)["model"]["people"]] == ["ada", "grace", "labadmin"]
    assert json.loads(state)["model"]["shares_error"] is None
    for body in (page, state):
        assert TOKEN not in body
        assert TOKEN.split(".")[0] not in body  # no part of it either
        assert "X-SLURM-USER-TOKEN" not in body


def test_clients_outside_the_allowed_networks_are_refused(serve):
    url = serve(Recorded("24.11"), allowed=("10.77.0.0/24",))
    status, _, body = fetch(url + "/")
    assert status == 403
    assert "node0" not in body


def test_an_unreachable_slurmrestd_is_reported_without_the_token(serve):
    class Down(Recorded):
        def _request(self, path):
            raise app.SlurmError("slurmrestd at http://slurmrestd.invalid:6820 unreachable: refused")

    status, _, page = fetch(serve(Down("24.11")) + "/")
    assert status == 503
    assert "unreachable" in page
    assert TOKEN not in page


def test_page_text_is_escaped():
    model = {
        "release": "24.11.5",
        "api": {"slurm": "v0.0.42", "slurmdb": None},
        "updated": 0,
        "nodes": [],
        "running": [
            {
                "id": 7,
                "name": "<script>alert(1)</script>",
                "user": "ada",
                "state": "RUNNING",
                "nodes": "node1",
                "gpus": 1,
                "start": 0,
                "elapsed": 5,
            }
        ],
        "queue": [],
        "history": None,
        "history_error": "slurmrestd serves no accounting (slurmdbd) API",
        "people": [
            {
                "name": "<b>ada</b>",
                "account": "<i>research</i>",
                "gpus_now": 1,
                "gpu_hours": None,
                "fair_share": None,
                "raw_usage": None,
            }
        ],
        "shares_error": "sshare failed: <no such thing>",
    }
    page = app.render_page(model, "gpucluster", 10)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "serves no accounting" in page
    assert "<b>" not in page and "<i>" not in page and "<no such thing>" not in page
    assert 'id="person-&lt;b&gt;ada&lt;/b&gt;"' in page
    assert "GPU-hours unavailable: slurmrestd serves no accounting" in page


# -- People: who uses what -------------------------------------------------------------------------


def cells(page: str, row_id: str) -> list[str]:
    """The text of each cell of one row of the page."""
    row = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page)
    assert row, f"no row {row_id}"
    return re.findall(r"<td>(.*?)</td>", row[1])


def test_sshare_output_is_parsed_into_user_rows():
    assert app.parse_shares(SSHARE) == [
        {"account": "root", "user": "root", "raw_usage": 0, "fair_share": 1.0},
        {"account": "admin", "user": "labadmin", "raw_usage": 268, "fair_share": 0.5},
        {"account": "research", "user": "ada", "raw_usage": 412, "fair_share": 0.25},
        {"account": "research", "user": "grace", "raw_usage": 0, "fair_share": 0.5},
    ]
    assert app.parse_shares("") == []


def test_sshare_is_run_with_the_columns_the_parser_reads():
    calls = []
    assert [s["user"] for s in app.read_shares(sshare(calls=calls))] == ["root", "labadmin", "ada", "grace"]
    assert calls == [["sshare", "-a", "-P", "-o", "Account,User,RawUsage,FairShare"]]


@pytest.mark.parametrize("release", RELEASES)
def test_gpu_hours_per_person_from_slurmdbd(release):
    answer = recorded(release, "slurmdb_jobs")
    expected = {}
    for job in answer["jobs"]:
        gpus = 0
        for tres in job["tres"]["allocated"]:
            if tres["type"] == "gres" and tres["name"] == "gpu":
                gpus += tres["count"]
        expected[job["user"]] = expected.get(job["user"], 0) + gpus * job["time"]["elapsed"] / 3600
    hours = app.gpu_hours(answer)
    assert hours == pytest.approx(expected)
    # by hand: job 1 (1 GPU, finished after 3 s) and job 3 (1 GPU, running for 4 s so far)
    assert hours == {"root": pytest.approx(7 / 3600)}


def test_gpu_hours_count_each_job_once_and_running_jobs_so_far():
    def job(job_id, user, gpus, elapsed, current):
        allocated = [{"type": "cpu", "name": "", "count": 4}, {"type": "gres", "name": "gpu", "count": gpus}]
        return {
            "job_id": job_id,
            "user": user,
            "state": {"current": [current]},
            "time": {"elapsed": elapsed},
            "tres": {"allocated": allocated},
        }

    answer = {
        "jobs": [
            job(10, "ada", 2, 5400, "COMPLETED"),  # 3.0
            job(11, "ada", 1, 1800, "RUNNING"),  # 0.5 so far
            job(11, "ada", 1, 1800, "RUNNING"),  # the same job again: not counted twice
            job(12, "grace", 0, 7200, "COMPLETED"),  # no GPU: 0
            job(13, "grace", 1, 0, "PENDING"),
        ]
    }
    assert app.gpu_hours(answer) == {"ada": 3.5, "grace": 0.0}


def test_people_combine_running_jobs_gpu_hours_and_fair_share():
    running = [
        {"user": "ada", "gpus": 2},
        {"user": "ada", "gpus": 1},
        {"user": "root", "gpus": 1},
        {"user": "bob", "gpus": 0},
    ]
    hours = {"ada": 10.0, "grace": 30.5, "root": 1.0, "carl": 0.0}
    people = app.parse_people(running, hours, app.parse_shares(SSHARE))
    assert [p["name"] for p in people] == ["ada", "grace", "bob", "carl", "labadmin"]
    assert people[0] == {
        "name": "ada",
        "account": "research",
        "gpus_now": 3,
        "gpu_hours": 10.0,
        "fair_share": 0.25,
        "raw_usage": 412,
    }
    assert people[2] == {
        "name": "bob",
        "account": "",
        "gpus_now": 0,
        "gpu_hours": 0.0,
        "fair_share": None,
        "raw_usage": None,
    }
    # without accounting and without sshare: what is known, the rest None
    assert app.parse_people(running, None, None) == [
        {
            "name": "ada",
            "account": "",
            "gpus_now": 3,
            "gpu_hours": None,
            "fair_share": None,
            "raw_usage": None,
        },
        {
            "name": "bob",
            "account": "",
            "gpus_now": 0,
            "gpu_hours": None,
            "fair_share": None,
            "raw_usage": None,
        },
    ]


def test_a_person_in_two_accounts_gets_both_and_the_better_standing():
    shares = app.parse_shares("Account|User|RawUsage|FairShare\n a|ada|10|0.2\n b|ada|5|0.7\n")
    (ada,) = app.parse_people([], {}, shares)
    assert (ada["account"], ada["fair_share"], ada["raw_usage"]) == ("a, b", 0.7, 15)


@pytest.mark.parametrize("release", RELEASES)
def test_people_from_the_recorded_answers(release):
    """The recordings' jobs given to ada: her running GPU, her GPU-hours and her standing, on the page."""

    class Adas(Recorded):
        def _request(self, path):
            status, answer = super()._request(path)
            for job in answer.get("jobs", []):
                job["user" if path.startswith("/slurmdb/") else "user_name"] = "ada"
            return status, answer

    model = Adas(release).snapshot(now=2_000_000_000)
    ada = model["people"][0]
    assert (ada["name"], ada["account"], ada["gpus_now"], ada["fair_share"]) == ("ada", "research", 1, 0.25)
    assert ada["gpu_hours"] == pytest.approx(7 / 3600)
    assert [p["name"] for p in model["people"]] == ["ada", "grace", "labadmin"]
    page = app.render_page(model, "gpucluster", 10)
    assert 'id="people"' in page
    assert cells(page, "person-ada") == ["ada", "research", "1", "0.0", "0.250"]


def test_the_people_rows_show_their_values():
    model = Recorded("24.11").snapshot(now=2_000_000_000)
    model["people"] = app.parse_people(
        [{"user": "ada", "gpus": 2}], {"ada": 12.345, "grace": 0.04}, app.parse_shares(SSHARE)
    )
    page = app.render_page(model, "gpucluster", 10)
    section = re.search(r'<section id="people">.*?</section>', page)[0]
    assert cells(section, "person-ada") == ["ada", "research", "2", "12.3", "0.250"]
    assert cells(section, "person-grace") == ["grace", "research", "0", "0.0", "0.500"]
    assert cells(section, "person-labadmin") == ["labadmin", "admin", "0", "0.0", "0.500"]
    assert "unavailable" not in section


def raising(exc: Exception):
    """A fake subprocess.run that cannot run sshare."""

    def run(argv, **_):
        raise exc

    return run


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(sshare("", 1, "sshare: error: Problem talking to the database"), id="fails"),
        pytest.param(raising(FileNotFoundError(2, "No such file or directory", "sshare")), id="missing"),
        pytest.param(raising(subprocess.TimeoutExpired(app.SSHARE, 20)), id="hangs"),
    ],
)
def test_a_failing_sshare_leaves_the_page_up(serve, run):
    url = serve(Recorded("24.11", run=run))
    status, _, page = fetch(url + "/")
    assert status == 200
    assert 'id="running-3"' in page and 'id="finished-1"' in page  # the rest of the page is there
    section = re.search(r'<section id="people">.*?</section>', page)[0]
    assert "Fair share unavailable: sshare failed" in section
    assert "Traceback" not in page
    assert 'id="person-' not in section  # the recordings' jobs are root's; no sshare, nobody else
    status, _, state = fetch(url + "/api/state")
    assert status == 200
    assert json.loads(state)["model"]["shares_error"].startswith("sshare failed")


@pytest.mark.parametrize("release", RELEASES)
def test_slurm_figures_for_prometheus_from_the_recorded_answers(serve, release):
    """/metrics: the recordings' node (MIXED, its one GPU given to the running job), one job running
    and one pending, each root's; parsed back with prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    rest = Recorded(release, run=sshare(calls=(calls := [])))
    status, headers, text = fetch(serve(rest) + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    # scraped every few seconds: nodes and jobs only, neither slurmdbd nor sshare
    assert not [p for p in rest.paths if p.startswith("/slurmdb/")] and calls == []
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples == {
        ("gpucluster_slurm_up", ()): 1,
        ("gpucluster_slurm_node_state", (("node", "node0"), ("state", "MIXED"))): 1,
        ("gpucluster_slurm_node_gpus", (("node", "node0"),)): 1,
        ("gpucluster_slurm_node_gpus_allocated", (("node", "node0"),)): 1,
        ("gpucluster_slurm_nodes", (("state", "mixed"),)): 1,
        ("gpucluster_slurm_jobs", (("state", "running"),)): 1,
        ("gpucluster_slurm_jobs", (("state", "pending"),)): 1,
        ("gpucluster_slurm_user_jobs", (("state", "running"), ("user", "root"))): 1,
        ("gpucluster_slurm_user_jobs", (("state", "pending"), ("user", "root"))): 1,
        ("gpucluster_slurm_user_gpus_allocated", (("user", "root"),)): 1,
        ("gpucluster_slurm_job_gpu", (("gpu", "0"), ("jobid", "3"), ("node", "node0"), ("user", "root"))): 1,
    }
    assert TOKEN.split(".")[0] not in text


def test_slurm_figures_say_only_down_when_slurmrestd_does_not_answer():
    node = {"name": "node0", "state": "IDLE", "gpus": 1, "gpus_used": 0}
    model = {"nodes": [node], "running": [], "queue": []}
    stale = app.render_metrics(model, "slurmrestd: connection refused")
    assert stale.splitlines()[-1] == "gpucluster_slurm_up 0"
    assert "node0" not in stale
    assert app.render_metrics(None, None).splitlines()[-1] == "gpucluster_slurm_up 0"


def test_label_values_are_escaped():
    assert app._labels(user='a"b\\c\nd') == '{user="a\\"b\\\\c\\nd"}'


def test_charts_draw_a_line_per_node_from_a_range_query():
    from webview import charts

    matrix = [
        {"metric": {"node": "node1"}, "values": [[1000, "0.5"], [1060, "0.9"], [1120, "NaN"]]},
        {"metric": {"node": "node0"}, "values": [[1000, "0"]]},
    ]
    series = charts.series_of(matrix, 100)
    assert series == {"node1": [(1000.0, 50.0), (1060.0, 90.0)], "node0": [(1000.0, 0.0)]}
    svg = charts.svg("gpu-util", "GPU <utilisation>", series, 1000, 1120, 100, "%")
    assert svg.startswith('<svg id="chart-gpu-util"') and svg.endswith("</svg>")
    assert svg.count('<polyline class="series" data-name="node1"') == 1
    assert "<circle" in svg and "GPU &lt;utilisation&gt;" in svg  # node0's single point; escaped title
    assert "no data yet" in charts.svg("occupancy", "GPUs allocated", {}, 0, 604800, 100, "%")


def test_the_page_shows_the_charts_or_why_not():
    model = Recorded("24.11").snapshot(now=2_000_000_000)
    page = app.render_page(model, "gpucluster", 10, pictures=(["<svg id='chart-x'></svg>"], None))
    assert '<section id="charts">' in page and "<svg id='chart-x'>" in page
    page = app.render_page(model, "gpucluster", 10, pictures=([], "Prometheus at http://x:9090: refused"))
    assert "charts unavailable: Prometheus at http://x:9090: refused" in page
    assert 'id="charts"' not in app.render_page(model, "gpucluster", 10)


def test_a_cached_reading_keeps_or_drops_the_last_good_value_on_an_error():
    now, answers = [0.0], iter([1, app.SlurmError("down"), 3])

    def read(_):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    kept = app.Cached(read, 5, (app.SlurmError,), clock=lambda: now[0])
    assert kept.current() == (1, None)
    now[0] = 2
    assert kept.current() == (1, None)  # within max_age: not read again
    now[0] = 6
    assert kept.current() == (1, "down")  # the last good value stays, with the error
    now[0] = 12
    assert kept.current() == (3, None)
    answers = iter([1, app.SlurmError("down")])
    dropped = app.Cached(read, 5, (app.SlurmError,), keep=False, clock=lambda: now[0])
    assert dropped.current() == (1, None)
    now[0] = 20
    assert dropped.current() == (None, "down")
