"""`serve`'s own process at start-up: nothing loaded that only its engine processes or a page use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOADED_LATER = ("onnxruntime", "jinja2")  # the model runtime (in the engine's processes), the pages' templates


def test_the_app_loads_neither_the_model_runtime_nor_the_page_templates(tmp_path: Path) -> None:
    """The engine runs in the pool's processes and no page has been shown: ONNX Runtime and Jinja2 are
    imported on first use, where they are used (each took 20-50 ms of `serve`'s start-up). A fresh
    interpreter: this one has imported both already."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mockserver.app import create_app\n"
        "from mockserver.settings import Settings\n"
        f"create_app(Settings(state_dir=Path({str(tmp_path)!r}), store='sqlite', engine_processes=2))\n"
        f"print(' '.join(name for name in {LOADED_LATER!r} if name in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.split() == []
