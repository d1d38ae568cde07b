"""The notebooks: each runs top to bottom at its quick size, and its committed .ipynb is executed,
small and in sync with the jupytext .py that is its source.

A quick run executes the .py through jupytext + nbclient in a real kernel, with
``SDEJAX_NOTEBOOK_QUICK=1`` and no display (``MPLBACKEND=Agg``), in a subprocess of its own. Its
cost is mostly XLA compilation, which is single-threaded, so the runs start in the background when
collection ends and overlap the rest of the suite (``start_quick_runs``); each test waits for its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.py"))
MAX_BYTES = 1_000_000
QUICK_RUNS = pytest.StashKey[dict]()
TIMEOUT_S = 900  # a whole quick run; they take well under a minute each on 2 idle cores

# Executes notebook argv[1] (a jupytext .py) in a kernel whose working directory is its folder,
# writes the executed notebook to argv[2] even when a cell fails, and exits 1 on a failure.
RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    source, target = Path(sys.argv[1]), sys.argv[2]
    notebook = jupytext.read(source)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, target)
        sys.exit(str(error)[-4000:])
    nbformat.write(notebook, target)
    """
)


def _execute_quick(path: Path, target: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDEJAX_NOTEBOOK_QUICK="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def start_quick_runs(session) -> None:
    """Start the quick runs of the notebooks selected in this session, in the background.

    Called by conftest.py as soon as collection ends, so the runs overlap the rest of the suite:
    they run one at a time in their own kernels and mostly use the core that the suite's
    (single-threaded) compilations leave idle. Each test then waits for its own run.
    """
    selected = [
        item.callspec.params["path"]
        for item in session.items
        if getattr(item, "originalname", None) == "test_notebook_runs_at_quick_size"
    ]
    if not selected:
        return
    folder = Path(session.config._tmp_path_factory.mktemp("notebooks"))
    pool = ThreadPoolExecutor(max_workers=1)
    targets = {path: folder / f"{path.stem}.ipynb" for path in sorted(set(selected))}
    session.config.stash[QUICK_RUNS] = {
        path: (pool.submit(_execute_quick, path, target), target) for path, target in targets.items()
    }
    pool.shutdown(wait=False)


@pytest.fixture(scope="module")
def quick_runs(request):
    if QUICK_RUNS not in request.config.stash:  # an xdist worker: start when this file starts
        start_quick_runs(request.session)
    return request.config.stash[QUICK_RUNS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_quick_size(path, quick_runs):
    import nbformat

    future, target = quick_runs[path]
    result = future.result()
    assert result.returncode == 0, f"{path.name} failed at its quick size:\n{result.stderr[-4000:]}"
    notebook = nbformat.read(target, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert any(o.get("output_type") in ("stream", "display_data", "execute_result") for o in outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_executed_small_and_in_sync(path):
    import jupytext
    import nbformat

    executed = path.with_suffix(".ipynb")
    assert executed.exists(), f"{executed.name} is missing: pair and execute it (README, Notebooks)"
    assert executed.stat().st_size < MAX_BYTES, f"{executed.name} is {executed.stat().st_size} bytes"
    stored = nbformat.read(executed, as_version=4)
    source = jupytext.read(path)
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in source.cells
    ], f"{executed.name} and {path.name} differ: run `jupytext --sync {path}` and re-execute"
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{executed.name} is not fully executed"
    outputs = [o for c in code for o in c.outputs]
    assert not any(o.output_type == "error" for o in outputs), f"{executed.name} stores an error"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{executed.name} has no figure"
