"""Benchmark: local embedding throughput per batch size, the embedding job on a seeded CRM, top-k search latency.

1. texts/s of the bundled all-MiniLM-L6-v2 over seeded CRM texts (descriptions, activity notes, NPS comments)
   for several encode batch sizes (model load time shown separately).
2. The incremental job on a freshly seeded CRM (`--accounts`): texts/s per source, then the no-op second run.
3. Top-k latency (p50/p95) of `repositories.embeddings.similar` over `--vectors` stored vectors (real embeddings
   plus noise, so they cluster like templated CRM text), with and without an account filter, HNSW recall@k
   against an exact scan, and the plan PostgreSQL chose.
Everything runs in throwaway databases that are dropped afterwards.
   The exact scan (index scans off) of the recall queries is timed too: the baseline of the latency figures.
Run: `.venv/bin/python -m benchmarks.bench_embeddings [--accounts 200] [--vectors 100000] [--queries 200]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch
from pgvector.psycopg import register_vector
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from benchmarks.common import Figure, throwaway_database
from core.llm.embeddings import LocalEmbedder, load_local_model
from core.repositories import embeddings as repo
from core.seeding.generator import build_plan, seed
from core.services.embedding_job import run_embedding_job

console = Console(width=140)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
NAME = "pgvector"
BATCH_SIZES = (1, 8, 16, 32, 64, 128)
QUERIES = ("invoice was charged twice", "the mobile app crashes offline", "renewal price increase",
           "SSO login problems", "customer wants more seats", "slow support answers", "data migration from Excel",
           "champion left the company", "reports are too slow", "great onboarding experience")


def corpus(n: int) -> list[str]:
    """Real-looking CRM texts from the seed generator (no database needed), cycled to `n`."""
    plan = build_plan(300, 7, NOW)
    texts = [r["description"] for r in plan.world.table("accounts")]
    texts += [r["body"] for r in plan.world.table("activities") if r["body"]]
    texts += [r["comment"] for r in plan.world.table("nps_responses") if r["comment"]]
    texts = list(dict.fromkeys(texts))
    return [texts[i % len(texts)] for i in range(n)]


def bench_local(texts: list[str]) -> Table:
    started = time.perf_counter()
    load_local_model()
    load_s = time.perf_counter() - started
    default_threads = torch.get_num_threads()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    table = Table(title=f"Local all-MiniLM-L6-v2 on CPU ({len(texts):,} CRM texts; model load {load_s:.1f} s, once; "
                        f"{os.cpu_count()} cores, load average {load})")
    for col in ("torch threads", "encode batch", "seconds", "texts/s", "ms/text"):
        table.add_column(col, justify="right")
    LocalEmbedder().embed(texts[:64])  # warm-up
    runs = [(default_threads, batch) for batch in BATCH_SIZES]
    runs += [(n, 32) for n in sorted({1, os.cpu_count() or 1}) if n != default_threads]
    for threads, batch in runs:
        torch.set_num_threads(threads)
        sample = texts[:128] if batch == 1 else texts
        started = time.perf_counter()
        LocalEmbedder(encode_batch=batch).embed(sample)
        secs = time.perf_counter() - started
        table.add_row(str(threads), str(batch), f"{secs:.2f}", f"{len(sample) / secs:,.0f}",
                      f"{1000 * secs / len(sample):.2f}")
    torch.set_num_threads(default_threads)
    return table


def bench_job(accounts: int, batch_size: int) -> Table:
    embedder = LocalEmbedder()
    table = Table(title=f"Embedding job on a seeded CRM ({accounts:,} accounts, job batch {batch_size}, "
                        "commit included)")
    for col in ("run", "source", "embedded", "unchanged", "seconds", "texts/s"):
        table.add_column(col, justify="left" if col in ("run", "source") else "right")
    with throwaway_database("embed_job") as (_url, engine):
        with Session(engine) as session:
            seed(session, accounts=accounts, seed=7, now=NOW)
            session.commit()
        for run in ("first", "second"):
            for source in repo.CRM_SOURCES:
                with Session(engine) as session:
                    started = time.perf_counter()
                    counts = run_embedding_job(session, embedder, [source], batch_size)[source]
                    session.commit()
                    secs = time.perf_counter() - started
                rate = f"{counts.embedded / secs:,.0f}" if counts.embedded else "-"
                table.add_row(run, source, f"{counts.embedded:,}", f"{counts.unchanged:,}", f"{secs:.2f}", rate)
    return table


def _synthetic(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors near real embeddings (cosine about 0.85 to their origin), like near-duplicate CRM notes."""
    picked = base[rng.integers(0, len(base), n)]
    noisy = picked + rng.normal(0, 0.03, picked.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def _load_vectors(session: Session, source: str, vectors: np.ndarray, accounts: int) -> float:
    """COPY the vectors in with the source's HNSW index dropped, then rebuild it from its own definition."""
    session.execute(text(f"INSERT INTO accounts (name, currency) SELECT 'Bench ' || g, 'USD' "
                         f"FROM generate_series(1, {accounts}) g"))
    first_account = session.scalar(text("SELECT min(id) FROM accounts"))
    name = f"ix_text_embeddings_hnsw_{source}"
    indexdef = session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name})
    session.execute(text(f"DROP INDEX {name}"))
    conn: Any = session.connection().connection.driver_connection
    register_vector(conn)
    with conn.cursor().copy("COPY text_embeddings (source, entity_id, account_id, content_hash, model, embedding) "
                            "FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["varchar", "int8", "int8", "varchar", "varchar", "vector"])
        for i, vector in enumerate(vectors):
            copy.write_row((source, i + 1, first_account + i % accounts, "bench", "all-MiniLM-L6-v2", vector))
    session.execute(text("SET maintenance_work_mem = '2GB'"))
    started = time.perf_counter()
    session.execute(text(indexdef))
    build_s = time.perf_counter() - started
    session.execute(text("ANALYZE text_embeddings"))
    return build_s


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], ordered[-1])


def _latencies(engine: Engine, source: str, probes: list[list[float]], k: int, account: int | None) -> list[float]:
    """Milliseconds per `similar` call, one session as an agent would hold it (statements get prepared)."""
    out = []
    with Session(engine) as session:
        repo.similar(session, source, probes[-1], k, account)  # warm-up
        for vector in probes:
            started = time.perf_counter()
            repo.similar(session, source, vector, k, account)
            out.append(1000 * (time.perf_counter() - started))
    return out


def bench_search(n_vectors: int, n_queries: int, k: int, recall_queries: int) -> tuple[list[Table], list[Figure]]:
    embedder = LocalEmbedder()
    rng = np.random.default_rng(7)
    base = np.array(embedder.embed(corpus(2000)), dtype=np.float32)
    vectors = _synthetic(base, n_vectors, rng)
    started = time.perf_counter()
    query_vectors = embedder.embed(list(QUERIES))
    embed_ms = 1000 * (time.perf_counter() - started) / len(QUERIES)
    probes = [list(map(float, v)) for v in _synthetic(base, n_queries, rng)]
    source = "activity_note"
    with throwaway_database("embed_search") as (_url, engine), Session(engine) as session:
        build_s = _load_vectors(session, source, vectors, accounts=1000)
        session.commit()
        plan = "\n".join(session.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT entity_id FROM text_embeddings "
            f"WHERE source = '{source}' ORDER BY embedding <=> %(v)s LIMIT {k}",
            {"v": str(probes[0]).replace(" ", "")}).scalars())
        session.rollback()
        some_account = session.scalar(text("SELECT min(account_id) FROM text_embeddings"))
        latency = Table(title=f"Top-{k} search over {n_vectors:,} vectors (384 dims, HNSW m=16 ef_construction=64; "
                              f"index build {build_s:.1f} s)")
        for col in ("query", "runs", "p50 ms", "p95 ms", "max ms"):
            latency.add_column(col, justify="left" if col == "query" else "right")
        hnsw: dict[str, tuple[float, float, float]] = {}
        for label, account in (("similar(source, vector, k)", None),
                               ("similar(..., account_id=<one of 1,000 accounts>)", some_account)):
            hnsw[label] = _percentiles(_latencies(engine, source, probes, k, account))
            p50, p95, worst = hnsw[label]
            latency.add_row(label, str(n_queries), f"{p50:.2f}", f"{p95:.2f}", f"{worst:.2f}")

        recall_runs = min(recall_queries, n_queries)
        found = 0
        exact_ms: list[float] = []
        with Session(engine) as s:
            for vector in probes[:recall_runs]:
                approx = {n.entity_id for n in repo.similar(s, source, vector, k)}
                s.execute(text("SET LOCAL enable_indexscan = off"))
                started = time.perf_counter()
                exact = {n.entity_id for n in repo.similar(s, source, vector, k)}
                exact_ms.append(1000 * (time.perf_counter() - started))
                s.rollback()
                found += len(approx & exact)
        exact_p = _percentiles(exact_ms)
        latency.add_row("exact scan (index scans off), the baseline", str(recall_runs), f"{exact_p[0]:.2f}",
                        f"{exact_p[1]:.2f}", f"{exact_p[2]:.2f}")
        latency.add_row("embed one query text (local model)", str(len(QUERIES)), f"{embed_ms:.2f}", "", "")
        quality = Table(title="HNSW quality and plan")
        quality.add_column("figure")
        quality.add_column("value", justify="right")
        quality.add_row(f"recall@{k} vs exact scan ({recall_runs} queries)", f"{found / (recall_runs * k):.3f}")
        quality.add_row("plan", next((line.strip(" ->") for line in plan.splitlines() if "Scan" in line), plan))
        with Session(engine) as s:
            hits = [repo.similar(s, source, v, 3) for v in query_vectors]
        quality.add_row("real queries answered", f"{sum(1 for h in hits if h)}/{len(hits)}")
    recall = found / (recall_runs * k)
    size = f"{n_vectors:,} vectors x 384 dims, top-{k}"
    p50, p95, _ = hnsw["similar(source, vector, k)"]
    figures = [
        Figure(NAME, "HNSW nearest neighbours p95", p95, "ms", "exact scan p95", exact_p[1], size,
               f"{n_queries} queries (exact: {recall_runs}); index build {build_s:.0f} s"),
        Figure(NAME, "HNSW nearest neighbours p50", p50, "ms", "exact scan p50", exact_p[0], size),
        Figure(NAME, f"HNSW recall@{k}", recall, "share", "exact scan (1.0 by definition)", 1.0, size,
               f"{recall_runs} queries"),
    ]
    return [latency, quality], figures


QUICK = ["--texts", "64", "--accounts", "30", "--vectors", "20000", "--queries", "100", "--recall-queries", "30"]
FULL = ["--vectors", "1000000", "--queries", "200", "--recall-queries", "30"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=512, help="texts for the throughput test")
    p.add_argument("--accounts", type=int, default=200, help="seeded CRM size for the job test")
    p.add_argument("--batch-size", type=int, default=64, help="job batch size")
    p.add_argument("--vectors", type=int, default=100_000, help="stored vectors for the search test")
    p.add_argument("--queries", type=int, default=200, help="timed searches per variant")
    p.add_argument("--recall-queries", type=int, default=50, help="queries also run as an exact scan (baseline)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--search-only", action="store_true", help="skip the throughput and job tables (1 and 2)")
    return p


def run(args: argparse.Namespace) -> list[Figure]:
    if not args.search_only:
        console.print(bench_local(corpus(args.texts)))
        console.print(bench_job(args.accounts, args.batch_size))
    tables, figures = bench_search(args.vectors, args.queries, args.k, args.recall_queries)
    for table in tables:
        console.print(table)
    for figure in figures:
        console.print(f"{figure.measure}: {figure.value:,.3f} {figure.unit}; {figure.baseline}: "
                      f"{figure.baseline_value:,.3f}")
    return figures


def main() -> None:
    run(parser().parse_args())


if __name__ == "__main__":
    main()
