"""`make bench`: every benchmark, one after the other, each printing its own table."""

from __future__ import annotations

import sys

from benchmarks import bench_customer360_segments, bench_embeddings, bench_llm, bench_runtime, bench_seed_import


def main() -> None:
    for module in (bench_seed_import, bench_customer360_segments, bench_embeddings, bench_llm, bench_runtime):
        sys.argv = [module.__name__]
        module.main()


if __name__ == "__main__":
    main()
