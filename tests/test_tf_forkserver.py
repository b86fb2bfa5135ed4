"""Workers forked by the fork server: the same facts as a fresh worker process, and the
same failures, timeouts and kills (``reportgen.collect.forkserver``)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import reportgen.collect as collect
from reportgen.collect.forkserver import ForkedWorker, ForkServer
from reportgen.config import ModelSpec, load_config

pytestmark = pytest.mark.tf  # the server imports TensorFlow, its children collect

LENET = load_config().select(["lenet"])[0]


def spec(slug: str, source: str) -> ModelSpec:
    return ModelSpec.from_dict({**LENET.to_dict(), "slug": slug, "source": source})


def facts_of(path: Path) -> dict[str, Any]:
    """The facts, their ops in a fixed order: the executor runs independent ops in any order
    (in a fresh process as well), and the measurement lists them as they ran."""
    facts = json.loads((path / "facts.json").read_text(encoding="utf-8"))
    facts["memory"]["ops"].sort(key=lambda op: (op["op"], op["slot"]))
    return dict(facts)


def test_forked_workers_collect_what_a_fresh_worker_collects(tmp_path: Path) -> None:
    specs = [LENET, spec("crash", "tests.faulty.crash:build"), spec("again", LENET.source)]
    done, failed = collect.collect_models(specs, tmp_path / "forked", jobs=2, profile=False)
    assert sorted(done) == ["again", "lenet"]
    assert str(failed["crash"]).startswith(
        "crash: the collect worker was killed by signal 11 (SIGSEGV)"
    )
    fresh = collect.collect_one(LENET, tmp_path / "fresh", profile=False)  # one model: no server
    expected = facts_of(fresh)
    assert facts_of(done["lenet"]) == expected
    again = facts_of(done["again"])
    assert {**again, "slug": "lenet"} == expected


def test_a_forked_worker_is_killed_as_a_process_group_and_the_server_ends(tmp_path: Path) -> None:
    server = ForkServer()
    request = tmp_path / "hang" / "request.json"
    request.parent.mkdir()
    payload = {"spec": spec("hang", "tests.faulty.hang:build").to_dict(), "profile": False}
    request.write_text(json.dumps(payload), encoding="utf-8")
    argv = [
        "python",
        "-m",
        "reportgen.collect.worker",
        str(request),
        str(request.parent),
    ]
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "k"), "MPLCONFIGDIR": str(tmp_path / "m")}
    try:
        with (tmp_path / "worker.log").open("wb") as log:
            worker = server.start(argv, log, env)
        assert isinstance(worker, ForkedWorker) and worker.pid > 0
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=0.5)  # the model module sleeps while it is imported
        assert os.getpgid(worker.pid) == worker.pid
        os.killpg(worker.pid, 9)
        assert worker.wait(timeout=30) == -9
        # A worker the server cannot serve as a fresh process would be: started afresh.
        other = {**env, "TF_CPP_MIN_LOG_LEVEL": "0"}
        with (tmp_path / "other.log").open("wb") as log:
            assert server.start(argv, log, other) is None
    finally:
        process = server._proc
        server.close()
    assert process is not None and process.poll() is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker.pid}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{worker.pid}")
