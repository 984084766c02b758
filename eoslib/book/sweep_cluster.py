"""Where a sweep runs: a local Dask cluster, an existing scheduler, or a batch system.

``--cluster`` takes one of

* ``local`` (the default): a :class:`distributed.LocalCluster` of single-threaded worker
  *processes*, one per core (each grid point is a Jupyter kernel that itself runs XLA on one
  thread, see :data:`eoslib.book.runner.SINGLE_THREAD_ENV`);
* a scheduler address, ``tcp://HOST:PORT`` (any scheme Dask knows: ``tls://``, ``ws://``...):
  the sweep submits to it and leaves it running;
* a YAML file describing a dask-jobqueue cluster (SLURM and PBS; also SGE, LSF, HTCondor,
  OAR, Moab), for example::

      jobqueue: slurm          # slurm | pbs | sge | lsf | htcondor | oar | moab
      workers: 16              # total single-threaded workers (or: adapt: {minimum: 0, maximum: 64})
      cluster:                 # keyword arguments of dask_jobqueue.SLURMCluster
        cores: 8               # cores per job; processes defaults to cores (1 thread each)
        memory: 16GB
        walltime: "02:00:00"
        queue: normal
        account: myproject
        job_script_prologue: ["source /path/to/eoslib/.venv/bin/activate"]

  Workers of a remote or batch cluster must see the checkout at the same path (a shared
  filesystem): each point re-reads its notebook there and checks that its code gives the
  client's key before it runs.

:func:`check_cluster_spec` validates the option before anything starts; :func:`open_cluster`
starts or connects.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

__all__ = ["JOBQUEUE_CLASSES", "ClusterSpec", "check_cluster_spec", "open_cluster", "OpenCluster"]

#: ``jobqueue:`` value -> dask_jobqueue class name.
JOBQUEUE_CLASSES = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
    "moab": "MoabCluster",
}

_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://", "inproc://")


@dataclass(frozen=True)
class ClusterSpec:
    """A validated ``--cluster`` value.

    Attributes:
      kind: ``"local"``, ``"address"`` or ``"jobqueue"``.
      address: the scheduler address (``kind == "address"``).
      jobqueue: the batch system (``kind == "jobqueue"``).
      options: keyword arguments of the dask-jobqueue class.
      workers: workers to scale to (local: default one per core, at most the points to run).
      adapt: ``{"minimum": m, "maximum": M}`` for an adaptive jobqueue cluster, else ``None``.
      source: the option as given.
    """

    kind: str
    address: str = ""
    jobqueue: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    adapt: dict[str, int] | None = None
    source: str = "local"


def check_cluster_spec(value: str | None, workers: int | None = None) -> ClusterSpec:
    """Parse and validate ``--cluster`` (and ``--workers``) without starting anything.

    Raises:
      ValueError: naming the option and what it accepts.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    text = (value or "local").strip()
    if text == "local":
        return ClusterSpec(kind="local", workers=workers)
    if text.startswith(_SCHEMES):
        return ClusterSpec(kind="address", address=text, workers=workers, source=text)
    path = Path(text)
    if path.suffix in (".yaml", ".yml"):
        return _jobqueue_spec(path, workers)
    raise ValueError(f"--cluster must be 'local', a scheduler address (tcp://HOST:PORT) or a "
                     f"dask-jobqueue .yaml file, got {text!r}")


def _jobqueue_spec(path: Path, workers: int | None) -> ClusterSpec:
    import yaml

    if not path.is_file():
        raise ValueError(f"--cluster: no such file {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"--cluster {path}: expected a mapping with keys jobqueue, workers|adapt, cluster")
    unknown = set(data) - {"jobqueue", "workers", "adapt", "cluster"}
    if unknown:
        raise ValueError(f"--cluster {path}: unknown key(s) {sorted(unknown)}; "
                         "allowed: jobqueue, workers, adapt, cluster")
    system = str(data.get("jobqueue", "")).lower()
    if system not in JOBQUEUE_CLASSES:
        raise ValueError(f"--cluster {path}: 'jobqueue' must be one of {'|'.join(JOBQUEUE_CLASSES)}, "
                         f"got {data.get('jobqueue')!r}")
    options = dict(data.get("cluster") or {})
    if not isinstance(data.get("cluster") or {}, dict):
        raise ValueError(f"--cluster {path}: 'cluster' must be a mapping of {JOBQUEUE_CLASSES[system]} arguments")
    cores = options.get("cores")
    if not isinstance(cores, int) or cores < 1:
        raise ValueError(f"--cluster {path}: cluster.cores must be an int >= 1 (cores per job), got {cores!r}")
    # One single-threaded worker per core, as on a laptop: a grid point is one kernel on one core.
    options.setdefault("processes", cores)
    n = workers if workers is not None else data.get("workers")
    adapt = data.get("adapt")
    if adapt is not None:
        if not (isinstance(adapt, dict) and set(adapt) <= {"minimum", "maximum"}
                and all(isinstance(v, int) and v >= 0 for v in adapt.values())):
            raise ValueError(f"--cluster {path}: 'adapt' must be {{minimum: int >= 0, maximum: int >= 1}}")
    elif not isinstance(n, int) or n < 1:
        raise ValueError(f"--cluster {path}: give 'workers' (an int >= 1) or 'adapt'")
    return ClusterSpec(kind="jobqueue", jobqueue=system, options=options, workers=n, adapt=adapt, source=str(path))


@dataclass
class OpenCluster:
    """A connected Dask client and how to let go of it.

    Attributes:
      client: the :class:`distributed.Client`.
      description: one line for the log, e.g. ``"LocalCluster, 2 single-threaded workers"``.
      dashboard: the dashboard URL, or ``""`` if the scheduler serves none.
      close: closes the client, and the cluster if the sweep started it.
    """

    client: Any
    description: str
    dashboard: str
    close: Callable[[], None]


def _dashboard(client: Any) -> str:
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - a scheduler that cannot say has no dashboard we can show
        return ""
    return client.dashboard_link if "dashboard" in services else ""


def _own(cluster: Any, description: str) -> OpenCluster:
    """A client on a cluster this process started; closing it closes both."""
    from distributed import Client

    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return OpenCluster(client, description, _dashboard(client), close)


def open_cluster(spec: ClusterSpec, pending: int) -> OpenCluster:
    """Start or connect to the cluster a sweep runs on.

    Args:
      spec: from :func:`check_cluster_spec`.
      pending: points to run (a local cluster starts no more workers than that).
    """
    from distributed import Client

    if spec.kind == "address":
        client = Client(spec.address, timeout="30s")
        n = len(client.scheduler_info().get("workers", {}))
        return OpenCluster(client, f"scheduler {spec.address} ({n} workers now)", _dashboard(client), client.close)
    if spec.kind == "jobqueue":
        import dask_jobqueue

        cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[spec.jobqueue])
        cluster = cls(**spec.options)
        if spec.adapt is not None:
            cluster.adapt(**spec.adapt)
            what = f"adaptive {spec.adapt}"
        else:
            cluster.scale(n=spec.workers)
            what = f"{spec.workers} workers"
        return _own(cluster, f"{cls.__name__} ({what}, {spec.options.get('processes')} per job)")
    from distributed import LocalCluster

    n = spec.workers or max(1, min(os.cpu_count() or 1, pending))
    # A dashboard on a random free port when bokeh is installed (the machine may run others).
    dash = ":0" if find_spec("bokeh") is not None else None
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dash,
                           silence_logs=logging.ERROR)
    return _own(cluster, f"LocalCluster, {n} single-threaded worker process{'es' if n > 1 else ''}")
