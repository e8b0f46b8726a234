"""Run every benchmark, print the tables, and write them to benchmarks/results.md."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

from benchmarks import disk, engine, fixtures, jobs, server

HISTORY = "## History"  # results.md's last section: what earlier figures were and what moved them


def markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    started = time.perf_counter()
    sections = []
    suites = {"engine": engine.run, "server": server.run, "jobs": jobs.run, "disk": disk.run, "fixtures": fixtures.run}
    chosen = sys.argv[1:] or list(suites)
    for title, (header, rows) in (section for name in chosen for section in suites[name]()):
        text = markdown(title, header, rows)
        print(text, flush=True)
        sections.append(text)
    machine = platform.processor() or platform.machine()
    elapsed = time.perf_counter() - started
    footer = f"_{machine}, Python {platform.python_version()}, {elapsed:.0f} s in all._\n"
    print(footer)
    if set(chosen) != set(suites):  # a partial run must not wipe the other tables
        print("benchmarks/results.md not updated (run every suite to update it)")
        return
    results = Path(__file__).with_name("results.md")
    previous = results.read_text() if results.exists() else ""
    history = previous[previous.index(HISTORY) :] if HISTORY in previous else ""  # written by hand, kept
    results.write_text(
        "# Benchmark results\n\n" + "\n".join(sections) + "\n" + footer + ("\n" + history if history else "")
    )


if __name__ == "__main__":
    main()
