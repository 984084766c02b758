"""`eoslib sweep`: grids validated up front, points run on a 2-worker LocalCluster, resumable,
a killed worker loses no finished point and its point is retried, a tidy table."""

from __future__ import annotations

import csv
import math
import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eoslib.book import cli, sweep
from eoslib.book.parameters import ParameterError, parameter_specs
from eoslib.book.sweep_cluster import check_cluster_spec
from eoslib.book.sweep_table import parse_check_line, parse_checks, read_record

ROOT = Path(__file__).resolve().parent.parent

TINY = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    eos: {paper: demo, item: "Lemma 0", kind: lemma, title: "sweep demo"}
    ---
    # Sweep demo

    ```{code-cell} ipython3
    :tags: [parameters]
    eta = 0.5         # learning rate; range (0, 2]
    n = 2             # steps; range [1, 10]
    wait_s = 0.0      # seconds to wait before the checks; range [0, 60]
    marker_dir = ""   # a folder where each start leaves a file (tests)
    ```

    ```{code-cell} ipython3
    import os
    import time
    from eoslib import checks
    if marker_dir:
        open(os.path.join(marker_dir, f"start-eta={eta:g}-n={n}-wait={wait_s:g}-{os.getpid()}"), "w").close()
    assert n != 7, "n = 7 raises on purpose"
    time.sleep(wait_s)
    checks.check("eta * n", eta * n, eta * n, kind="claim", rtol=1e-12)
    checks.check_le("eta below 1", eta, 1.0, kind="regression")
    checks.verdict("Lemma 0")
    ```
    ''')


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    nb = tmp_path / "nb" / "tiny.md"
    nb.parent.mkdir()
    nb.write_text(TINY)
    return nb


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


# --- grid parsing and validation (nothing starts) --------------------------------------------------

SPECS = parameter_specs(
    'eta = 0.5  # lr; range (0, 2]\n'
    'n = 2  # steps; range [1, 10]\n'
    'etas = [0.1, 0.05]  # lrs; range (0, 0.2]\n'
    'scale = "book"  # scale; choices book|paper\n')


def test_axis_syntax():
    assert sweep.parse_axis(SPECS["eta"], "0.1,0.2, 1") == [0.1, 0.2, 1.0]
    assert sweep.parse_axis(SPECS["eta"], "0.1:0.5:5") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert sweep.parse_axis(SPECS["eta"], "0.01:1:3:log") == [0.01, 0.1, 1.0]
    assert sweep.parse_axis(SPECS["n"], "2:10:5") == [2, 4, 6, 8, 10]
    assert sweep.parse_axis(SPECS["etas"], "[0.1,0.05],[0.2], []") == [[0.1, 0.05], [0.2], []]
    assert sweep.parse_axis(SPECS["scale"], "book,paper") == ["book", "paper"]
    assert sweep.split_values("'a,b',[1,(2,3)],x") == ["'a,b'", "[1,(2,3)]", "x"]


@pytest.mark.parametrize("name, text, match", [
    ("eta", "0.5,3.0", r"3\.0.*'eta' must be a number in \(0, 2\]"),
    ("eta", "0,0.5", r"0.*\(0, 2\]"),
    ("n", "2,2.5", r"2\.5.*an int in \[1, 10\]"),
    ("etas", "[0.1],[0.3]", r"\[0\.3\]"),
    ("etas", "0.1", r"a list"),
    ("scale", "book,huge", r"one of book\|paper"),
])
def test_bad_values_rejected(name, text, match):
    with pytest.raises(ParameterError, match=match):
        sweep.parse_axis(SPECS[name], text)


@pytest.mark.parametrize("name, text, match", [
    ("n", "1:10:3", "is an int but the grid gives 5.5"),
    ("eta", "0.1,0.2,0.1", "listed twice"),
    ("eta", "-1:1:3:log", "a log grid needs a, b > 0"),
])
def test_bad_axes_rejected(name, text, match):
    with pytest.raises(sweep.GridError, match=match):
        sweep.parse_axis(SPECS[name], text)


def test_bad_grid_rejected_before_any_run(tiny, tmp_path, capsys):
    out = tmp_path / "sweep"
    cases = [
        (["-p", "eta", "0.5,1.0,2.5"], "2.5"),
        (["-p", "eta", "0.5", "-p", "n", "1:4:3"], "is an int"),
        (["-p", "eta", "0.5", "-p", "eta", "1.0"], "given twice"),
        (["-p", "nope", "1,2"], "unknown parameter 'nope'"),
        ([], "at least one grid axis"),
        (["-p", "eta", "0.5", "--cluster", "sge://x"], "--cluster must be"),
        (["-p", "eta", "0.5", "--workers", "0"], "--workers must be >= 1"),
    ]
    for argv, message in cases:
        code = cli.main(["sweep", str(tiny), *argv, "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (argv, err)
    assert not out.exists(), "nothing may start (or be written) for an invalid grid"


def test_cluster_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobqueue: torque\ncluster: {cores: 4, memory: 8GB}\nworkers: 4\n")
    with pytest.raises(ValueError, match="'jobqueue' must be one of slurm|pbs"):
        check_cluster_spec(str(bad))
    bad.write_text("jobqueue: slurm\ncluster: {memory: 8GB}\nworkers: 4\n")
    with pytest.raises(ValueError, match="cluster.cores"):
        check_cluster_spec(str(bad))
    good = tmp_path / "slurm.yaml"
    good.write_text("jobqueue: slurm\nworkers: 8\ncluster: {cores: 4, memory: 8GB, walltime: '01:00:00', "
                    "queue: normal}\n")
    spec = check_cluster_spec(str(good))
    assert (spec.kind, spec.jobqueue, spec.workers, spec.options["processes"]) == ("jobqueue", "slurm", 8, 4)
    import dask_jobqueue

    cluster = dask_jobqueue.SLURMCluster(**spec.options)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    # 4 single-threaded workers per 4-core job.
    assert "#SBATCH" in script and "--nworkers 4" in script and "--nthreads 1" in script
    assert check_cluster_spec("tcp://127.0.0.1:8786").kind == "address"


def test_check_lines():
    rows = parse_checks(textwrap.dedent("""\
        PASS claim [l_2] gap ratio at the smallest eta = 0.0125: measured=0.9987 expected=1 tol=atol=0.02
        FAIL regression Phase I (B.3): first t: measured=max 3.1e-10 <= bound=1e-10
        PASS finding gap: measured=min ~0.05 >= bound=0.01
        PASS claim sign: measured=0.3 > 0
        PASS claim decay: non-increasing over 4 values, violations=1 worst=~0
        PASS claim runs: diverged_at = [-1, -1] (-1: never)
        PASS claim arr: measured=[1, 2] expected=[1, 2] tol=rtol=0.01 atol=1e-09
        FAIL reconstructed [l_3] exponent: measured=1.777169518 expected=2 tol=atol=0.15 exceeded by 0.0728
        FAIL claim v: w: 2 of 5 entries off; worst at [3]: measured=0.5 expected=1 tol=rtol=0.1 exceeded by 0.4
        not a check
        """))
    assert [r["relation"] for r in rows] == ["close", "<=", ">=", "> 0", "monotone", "true", "close", "close", "close"]
    assert (rows[7]["check"], rows[7]["measured"], rows[7]["tolerance"], rows[7]["detail"]) == (
        "[l_3] exponent", 1.777169518, "atol=0.15", "exceeded by 0.0728")
    assert (rows[8]["check"], rows[8]["measured"], rows[8]["detail"]) == (
        "v: w", 0.5, "exceeded by 0.4; 2 of 5 entries off; worst at [3]")
    r = rows[0]
    assert (r["check"], r["kind"], r["verdict"], r["measured"], r["expected"], r["tolerance"]) == (
        "[l_2] gap ratio at the smallest eta = 0.0125", "claim", "PASS", 0.9987, 1.0, "atol=0.02")
    assert rows[1]["check"] == "Phase I (B.3): first t" and rows[1]["verdict"] == "FAIL"
    assert rows[1]["measured"] == 3.1e-10 and rows[1]["expected"] == 1e-10
    assert rows[2]["measured"] == 0.05 and rows[2]["measured_text"] == "min ~0.05"
    assert rows[4]["measured"] == 1.0 and rows[5]["measured_text"] == "diverged_at = [-1, -1] (-1: never)"
    assert math.isnan(rows[6]["measured"]) and rows[6]["tolerance"] == "rtol=0.01 atol=1e-09"
    assert parse_check_line("VERDICT Lemma 0: reproduced; all 2 checks passed (1 claim)") is None


# --- running on a 2-worker LocalCluster -------------------------------------------------------------

def _csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_local_cluster_sweep_table_and_resume(tiny, tmp_path, client):
    out = tmp_path / "sweep"
    plan = sweep.plan_sweep(tiny, [("eta", "0.5,1.5"), ("n", "2,7")], out=out, root=ROOT)
    assert [p.parameters for p in plan.points] == [
        {"eta": 0.5, "n": 2}, {"eta": 0.5, "n": 7}, {"eta": 1.5, "n": 2}, {"eta": 1.5, "n": 7}]
    res = sweep.run_sweep(plan, client=client, log=None)
    assert (res.ran, res.skipped) == (4, 0)
    assert [r["status"] for r in res.records] == ["pass", "error", "fail", "error"]
    assert "n = 7 raises on purpose" in res.records[1]["error"]
    assert len({r["worker"] for r in res.records}) == 2, "both workers took points"

    import pyarrow.parquet as pq

    table = pq.read_table(res.table[0]).to_pylist()
    cols = list(table[0])
    assert cols[:3] == ["point", "eta", "n"]
    for c in ("check", "kind", "measured", "expected", "tolerance", "verdict", "detail", "runtime_s", "notebook",
              "error"):
        assert c in cols
    passed = [r for r in table if r["point"] == 0]
    assert [(r["check"], r["kind"], r["verdict"]) for r in passed] == [
        ("eta * n", "claim", "PASS"), ("eta below 1", "regression", "PASS")]
    assert passed[0]["measured"] == 1.0 and passed[0]["tolerance"] == "rtol=1e-12"
    assert (out / Path(passed[0]["notebook"]).name).is_file() or Path(passed[0]["notebook"]).is_file()
    failed = [r for r in table if r["point"] == 2 and r["verdict"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["check"] == "eta below 1" and failed[0]["measured"] == 1.5
    errored = [r for r in table if r["point"] == 1]
    assert len(errored) == 1 and errored[0]["check"] is None and "AssertionError" in errored[0]["error"]
    rows = _csv(res.table[1])
    assert len(rows) == len(table) and rows[0]["eta"] == "0.5" and rows[0]["verdict"] == "PASS"

    # A rerun skips every finished point; a wider grid runs only the new ones.
    again = sweep.run_sweep(sweep.plan_sweep(tiny, [("eta", "0.5,1.5"), ("n", "2,7")], out=out, root=ROOT),
                            client=client, log=None)
    assert (again.ran, again.skipped) == (0, 4)
    wider = sweep.run_sweep(sweep.plan_sweep(tiny, [("eta", "0.5,1.5,0.25"), ("n", "2,7")], out=out, root=ROOT),
                            client=client, log=None)
    assert (wider.ran, wider.skipped) == (2, 4)
    assert [r["status"] for r in wider.records][-2:] == ["pass", "error"]
    # --retry-failed re-runs the failed and errored points only.
    retried = sweep.run_sweep(sweep.plan_sweep(tiny, [("eta", "0.5,1.5"), ("n", "2,7")], out=out, root=ROOT),
                              client=client, log=None, retry_failed=True)
    assert (retried.ran, retried.skipped) == (3, 1)


@pytest.mark.slow
def test_killed_worker_loses_nothing_and_its_point_is_retried(tiny, tmp_path, client):
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "sweep"
    plan = sweep.plan_sweep(tiny, [("wait_s", "0,0.2,0.4,8"), ("marker_dir", repr(str(markers)))], out=out,
                            root=ROOT)
    slow = plan.points[-1]
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(res=sweep.run_sweep(plan, client=client, log=None)))
    thread.start()
    deadline = time.monotonic() + 120
    # Wait until the three quick points are recorded and the slow one has started.
    while time.monotonic() < deadline:
        done = [read_record(p.record) for p in plan.points[:3]]
        if all(done) and list(markers.glob("start-*wait=8-*")):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the sweep did not reach the slow point")
    finished = {p.index: read_record(p.record) for p in plan.points[:3]}
    busy = [w for w, keys in client.processing().items() if keys]
    assert len(busy) == 1
    pid = client.run(os.getpid, workers=busy)[busy[0]]
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive(), "the sweep did not finish after the worker was killed"
    res = box["res"]
    assert [r["status"] for r in res.records] == ["pass"] * 4
    # The slow point ran twice (killed, then retried); the finished ones were not run again.
    starts = sorted(m.name.split("-")[3] for m in markers.iterdir())
    assert starts == ["wait=0", "wait=0.2", "wait=0.4", "wait=8", "wait=8"]
    for i, rec in finished.items():
        assert read_record(plan.points[i].record) == rec
    assert read_record(slow.record)["worker"].split(":")[1] != str(pid)
    assert len(_csv(res.table[1])) == 8  # 4 points x 2 checks


@pytest.mark.slow
def test_sweep_on_a_running_scheduler(tiny, tmp_path, client, capsys):
    out = tmp_path / "sweep"
    address = client.scheduler.address
    code = cli.main(["sweep", str(tiny), "-p", "eta", "0.5", "--cluster", address, "--out", str(out),
                     "--export", str(tmp_path / "export"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"cluster: scheduler {address}" in printed and "1 pass" in printed
    assert client.scheduler_info()["workers"], "the sweep leaves a cluster it did not start running"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["results.csv", "results.parquet",
                                                                      "sweep.json"]
    # The same command again runs nothing.
    assert cli.main(["sweep", str(tiny), "-p", "eta", "0.5", "--cluster", address, "--out", str(out),
                     "--no-progress"]) == 0
    assert "1 already done, 0 to run" in capsys.readouterr().out
