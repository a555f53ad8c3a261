"""`make bench` / `make bench-quick`: every benchmark in turn (each prints its own tables), then one summary table
of the figures against their same-run baselines, written as JSON too.

Run: `.venv/bin/python -m benchmarks.run [--quick] [--json PATH] [--only lead_scoring,runtime ...]`;
`--markdown PATH` prints an earlier results file's summary as Markdown.
Each benchmark also runs alone: `.venv/bin/python -m benchmarks.bench_<name> --help`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from rich.console import Console

from benchmarks import (
    bench_agents,
    bench_customer360_segments,
    bench_deal_coach,
    bench_embeddings,
    bench_lead_scoring,
    bench_llm,
    bench_runtime,
    bench_seed_import,
)
from benchmarks.common import Figure, machine, machine_line, markdown_table, summary_table, write_results
from core.config import get_settings

console = Console(width=160)
MODULES: dict[str, ModuleType] = {
    "lead_scoring": bench_lead_scoring, "runtime": bench_runtime, "agents": bench_agents,
    "deal_coach": bench_deal_coach, "customer360": bench_customer360_segments, "llm": bench_llm,
    "seed_import": bench_seed_import, "embeddings": bench_embeddings,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes): each module's QUICK")
    parser.add_argument("--json", type=Path, default=None, help="results file (default <data_dir>/bench/results.json)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(MODULES)}")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="print the summary of an earlier results file as Markdown and exit (runs nothing)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.only.split(",") if n and n not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.markdown is not None:
        data = json.loads(args.markdown.read_text())
        print(f"{data['mode']} run, finished {data.get('finished_at')}; machine: {machine_line(data['machine'])}\n")
        print(markdown_table(data["figures"]))
        return 0
    names = [n for n in args.only.split(",") if n] or list(MODULES)
    mode = "quick" if args.quick else "full"
    before = machine()
    path = args.json or get_settings().data_dir / "bench" / "results.json"
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    argvs: dict[str, list[str]] = {}

    def save() -> None:  # after every benchmark, so an interrupted run keeps what it measured
        write_results(path, figures, mode=mode, info=machine() | {"load_avg_start": before["load_avg"]},
                      extra={"seconds": seconds, "failed": failed, "options": argvs,
                             "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    for name in names:
        module = MODULES[name]
        bench_argv = argvs[name] = list(module.QUICK if args.quick else module.FULL)
        console.rule(f"{name} ({mode}: {' '.join(bench_argv) or 'defaults'})")
        started = time.perf_counter()
        try:
            figures += module.run(module.parser().parse_args(bench_argv))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed[name] = f"{type(exc).__name__}: {exc}"
            console.print(f"[red]{name} failed[/red]\n{traceback.format_exc()}")
        seconds[name] = round(time.perf_counter() - started, 1)
        save()
    console.rule("summary")
    console.print(summary_table(figures, f"Benchmarks ({mode}); ratio = value / baseline measured in the same run"))
    console.print(f"machine: {machine_line()}; load at start {before['load_avg']}")
    console.print("seconds per benchmark: " + ", ".join(f"{n} {s:g}" for n, s in seconds.items()))
    for name, error in failed.items():
        console.print(f"[red]{name} failed: {error}[/red]")
    console.print(f"written {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
