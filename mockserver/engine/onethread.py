"""One thread per native library in an engine process: imported by the pool's fork server first,
before numpy, and by the command line (`cutout-mock serve --engine-processes 0` runs the engine in
the serving process's threads; `cutout-mock segment` in its own).

numpy's OpenBLAS (and OpenMP or MKL builds alike) reads its thread count once, when it loads, and
by default starts one thread per core; between calls those threads spin waiting for the next one.
In a pool sized to the cores that more than doubled a worker's CPU for nothing (on the project's
2-core machine, a Pixelcut cut-out of the sample product shot: 121 ms of CPU for 61 ms of wall time
in one process, 55 ms for 55 ms on one thread; 150 against 60 ms a cut-out in `serve`'s workers), and
4 image requests at once ran no faster than 1. The pool supplies the parallelism
(``mockserver.runtime.pool``). OpenCV's and ONNX Runtime's threads are set where they load.
Nothing to call: importing this module sets the environment the libraries read.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"
