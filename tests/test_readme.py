"""Every python block of the README runs as written, top to bottom, in a fresh interpreter."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples():
    assert len(python_blocks()) >= 4


def test_readme_python_blocks_run_in_a_fresh_interpreter(tmp_path):
    # One script, the blocks in order (later blocks use the names earlier ones define), run in
    # an empty folder (the examples write map.nc and map.png) with JAX's default settings: the
    # suite's float64 and strict rank promotion are not what a reader has.
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(python_blocks()))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "map.png").exists() and (tmp_path / "map.nc").exists()
