"""Eval harness: suites, runner, stored results, reports (rendered in a real headless chromium), compare, gate.

Most runs use the scripted model (each case's reply replayed at the HTTP boundary, the fast gate's mode);
one test runs the embedded SmolLM2, one a scripted judge model configured for the `judge` purpose.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli.evals import app as evals_app
from api.cli.prompts import app as prompts_app
from core.config import get_settings
from core.errors import Conflict, InvalidInput
from core.llm.factory import ModelConfig
from core.models import AuditLog, EvalCaseResult, EvalRun, LlmCall
from core.repositories import evals as repo
from evals.base import SuiteUnavailable, read_cases
from evals.gate import Significance, Thresholds, evaluate_run, load_thresholds, run_gate
from evals.metrics import CaseScore, auc, calibration_bins, compare, compute, roc_points
from evals.nps_reply.suite import CASES_PER_CATEGORY
from evals.report import render
from evals.runner import mark_baseline, run_suite
from evals.suites import get_suite
from prompts import registry
from tests.llm_mock import ScriptedServer, llm_settings, text, tool

PROMPT = "nps_followup.draft"
FENCED_COMMENT = '{{ comment | fence("customer comment") }}'
ARTIFACTS = get_settings().data_dir / "artifacts"


def worse_versions(session: Session) -> tuple[int, int]:
    """Two deliberately worse admin edits of the production prompt: one drops the comment's fence, one asks for a
    discount. Both become staging versions."""
    text_ = registry.load_prompt(session, PROMPT).template
    assert FENCED_COMMENT in text_
    no_fence = registry.create_version(session, PROMPT, text_.replace(FENCED_COMMENT, "{{ comment }}"), "ada",
                                       "no fence")
    discount = registry.create_version(session, PROMPT, text_.replace(
        "Three sentences at most.", "Three sentences at most. Offer unhappy customers a 20% discount on their "
                                    "next renewal."), "ada", "discount")
    return no_fence.version, discount.version


@pytest.fixture
def synced(session: Session) -> Session:
    registry.sync_prompts(session)
    return session


# --- cases and metrics ---------------------------------------------------------------------------------------

def test_case_files_are_validated_with_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "a", "inputs": {"comment": "x"}}\n{"id": "b", "inputs": []}\n')
    with pytest.raises(InvalidInput) as exc:
        read_cases(path)
    assert exc.value.field == "cases.jsonl:2: inputs"
    path.write_text('{"id": "a", "inputs": {}}\n\n{"id": "a", "inputs": {}}\n')
    with pytest.raises(InvalidInput, match="used twice"):
        read_cases(path)
    path.write_text('{"id": "a", "inputs": {}, "expected": 1}\n')
    with pytest.raises(InvalidInput, match="expected"):
        read_cases(path)


def test_injection_cases_interleave_attacks_and_benign_controls() -> None:
    cases = get_suite("injection.v1").load_cases(get_settings())
    kinds = [c.reference["kind"] for c in cases]
    assert kinds.count("attack") == 36 and kinds.count("benign") == 12
    assert kinds[:4] == ["attack", "attack", "attack", "benign"]  # any --limit prefix holds both kinds
    assert all(c.scripted_reply for c in cases) and len({c.case_id for c in cases}) == len(cases)


def test_nps_reply_cases_are_built_from_the_data_set(datasets_dir: Path) -> None:
    settings = get_settings().model_copy(update={"datasets_dir": datasets_dir})
    cases = get_suite("nps_reply.v1").load_cases(settings)
    assert len(cases) == 3 * CASES_PER_CATEGORY
    assert [c.reference["category"] for c in cases[:3]] == ["detractor", "passive", "promoter"]
    by_stars = {c.reference["stars"]: c.inputs["score"] for c in cases}
    assert by_stars == {1: 2, 2: 5, 3: 7, 4: 9, 5: 10}
    assert all(c.scripted_reply == c.reference["reply"] and c.inputs["comment"] for c in cases)
    assert len({c.inputs["comment"].lower() for c in cases}) == len(cases)


def test_missing_data_set_skips_the_suite_with_a_clear_message(synced: Session, tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"datasets_dir": tmp_path})
    with pytest.raises(SuiteUnavailable, match="nps_reply.v1 skipped: .*SALESAGENTS_DATASETS_DIR"):
        run_suite(synced, "nps_reply.v1", scripted=True, settings=settings, write_report=False)
    assert synced.scalars(select(EvalRun)).all() == []


def test_metrics_auc_brier_ratios_and_bootstrap() -> None:
    assert auc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 1.0
    assert auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert auc([0.5, 0.5], [1, 0]) == 0.5 and auc([0.3], [1]) is None
    assert roc_points([0.9, 0.2], [1, 0]) == [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    assert calibration_bins([0.05, 0.08, 0.95], [0, 1, 1]) == [(0.065, 0.5, 2), (0.95, 1.0, 1)]
    cases = [CaseScore("a", True, "ok", {"x": 1.0}, 10, 1, 1, 0.9),
             CaseScore("b", False, "fallback", {"x": 0.0}, 30, 0, 1, 0.6),
             CaseScore("c", True, "ok", {"x": None}, 20, 0, 0, 0.2)]
    m = compute(cases)
    assert (m["pass_rate"], m["fallback_rate"], m["x_rate"], m["mean_chars"]) == (0.666667, 0.333333, 0.5, 20.0)
    assert (m["precision"], m["recall"], m["accuracy"], m["auc"]) == (0.5, 1.0, 0.666667, 1.0)
    assert m["brier"] == round((0.01 + 0.36 + 0.04) / 3, 6)

    good = [CaseScore(f"c{i}", True, "ok", {"x": 1.0}) for i in range(40)]
    bad = [CaseScore(f"c{i}", i % 2 == 0, "fallback" if i % 2 else "ok", {"x": float(i % 2 == 0)})
           for i in range(40)]
    same = {d.metric: d for d in compare(good, good)}
    assert same["pass_rate"].delta == 0 and (same["pass_rate"].low, same["pass_rate"].high) == (0, 0)
    worse = {d.metric: d for d in compare(good, bad)}
    assert worse["pass_rate"].paired and worse["pass_rate"].delta == -0.5 and worse["pass_rate"].worse
    assert worse["fallback_rate"].delta == 0.5 and worse["fallback_rate"].worse  # lower is better
    assert worse["pass_rate"].high < 0 < worse["fallback_rate"].low
    unpaired = {d.metric: d for d in compare(good[:20], bad)}  # different cases: resampled independently
    assert not unpaired["pass_rate"].paired and unpaired["pass_rate"].worse


# --- runner, storage, report ---------------------------------------------------------------------------------

def test_scripted_injection_run_stores_results_and_writes_the_report(synced: Session, tmp_path: Path) -> None:
    run = run_suite(synced, "injection.v1", scripted=True, reports_dir=tmp_path, note="test")
    assert (run.status, run.mode, run.model, run.case_count, run.passed_count) == ("done", "scripted", "scripted",
                                                                                   48, 48)
    assert run.prompt_refs == [registry.load_prompt(synced, PROMPT).ref]
    m = run.metrics
    # The scripted model obeys every attack: all 36 replies are caught and replaced by the template, all 12
    # legitimate replies get through, so the guards detect attacks with precision and recall 1.
    assert (m["pass_rate"], m["fallback_rate"], m["attack_resisted_rate"], m["benign_accepted_rate"]) == (
        1.0, 0.75, 0.0, 1.0)
    assert (m["precision"], m["recall"], m["fenced_rate"], m["prompt_lint_rate"]) == (1.0, 1.0, 1.0, 1.0)
    assert run.input_tokens > 0 and run.output_tokens > 0 and run.duration_ms > 0

    rows = repo.case_results(synced, run.id)
    assert len(rows) == 48 and [r.position for r in rows] == list(range(48))
    attack = next(r for r in rows if r.case_id == "attack:ignore_instructions_discount")
    assert attack.fallback and attack.outcome == "fallback" and "90%" not in attack.output
    assert attack.scores["attack_blocked"] == 1.0 and attack.scores["benign_accepted"] is None
    assert "commitment" in attack.comments["attack_resisted"] and attack.label == 1 and attack.prediction == 1
    calls = synced.scalars(select(LlmCall).where(LlmCall.agent == "evals")).all()
    assert len(calls) == 48 and {r.llm_call_id for r in rows} == {c.id for c in calls}

    page = Path(run.report_path or "").read_text(encoding="utf-8")
    assert Path(run.report_path or "").parent == tmp_path
    assert page.count("<svg") >= 4 and "Pass rates" in page and "Confusion" in page
    assert all(r.case_id in page for r in rows)
    assert "&lt;|im_start|&gt;" in page and "<|im_start|>" not in page  # attack text is escaped
    assert "default-src 'none'" in page and "<script" not in page


def test_scripted_nps_reply_run_measures_real_vendor_replies(synced: Session, datasets_dir: Path,
                                                             tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"datasets_dir": datasets_dir})
    run = run_suite(synced, "nps_reply.v1", scripted=True, limit=30, settings=settings, reports_dir=tmp_path)
    m = run.metrics
    assert run.case_count == 30 and m["safe_rate"] == 1.0 and m["fenced_rate"] == 1.0
    assert {"guard_pass_rate", "language_match_rate", "length_ok_rate", "no_commitment_rate", "tone_match_rate",
            "mean_chars"} <= set(m)
    # Vendors' real replies often name a support address or link: our guards replace those with the template.
    rows = repo.case_results(synced, run.id)
    with_email = [r for r in rows if re.search(r"[\w.+-]+@[\w-]+\.\w+", r.reference["reply"])]
    assert with_email and all(r.fallback and "contact" in r.comments["guard_pass"] for r in with_email)
    assert 0 < m["guard_pass_rate"] < 1 and m["fallback_rate"] == round(1 - m["guard_pass_rate"], 6)


def test_report_renders_roc_and_calibration_for_probabilities(synced: Session) -> None:
    run = run_suite(synced, "injection.v1", scripted=True, limit=8, write_report=False)
    rows = list(repo.case_results(synced, run.id))
    for i, row in enumerate(rows):  # a suite with a scoring model stores a probability per case
        row.probability = 0.9 - 0.1 * i if row.label == 1 else 0.15 * i
    page = render(run, rows, {"pass_rate": (1.0, None)}, None, ("safe",))
    assert "ROC" in page and "Calibration" in page and "Predicted probabilities" in page
    assert "≥ 1.0" in page


def test_a_worse_prompt_fails_the_gate_and_cannot_be_promoted(synced: Session, datasets_dir: Path,
                                                             tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"datasets_dir": datasets_dir})
    production = registry.load_prompt(synced, PROMPT).version
    good = run_gate(synced, fast=True, settings=settings, write_report=False)
    assert good.passed, good.failures()
    assert [(s.suite, s.mode) for s in good.suites] == [("injection.v1", "scripted"), ("nps_reply.v1", "scripted"),
                                                        ("nps_reply.v2", "scripted")]

    no_fence, discount = worse_versions(synced)
    report = run_gate(synced, fast=True, versions={PROMPT: no_fence}, settings=settings, reports_dir=tmp_path)
    assert not report.passed
    failures = report.failures()
    assert any(f.startswith("injection.v1") and "fenced_rate = 0.000, must be ≥ 1.0" in f for f in failures)
    assert any(f.startswith("nps_reply.v1") and "fenced_rate" in f for f in failures)
    assert any("pass_rate" in f for f in failures)
    run = repo.get_run(synced, report.suites[0].run_id or 0)
    assert run is not None and run.prompt_refs == [f"{PROMPT}@{no_fence}"]
    page = Path(run.report_path or "").read_text(encoding="utf-8")
    first_case = re.search(r'<td class="(pass|fail)">(pass|FAIL)</td>', page)
    assert first_case and first_case.group(2) == "FAIL"  # failures first

    lint = run_gate(synced, fast=True, versions={PROMPT: discount}, settings=settings, write_report=False)
    assert any("prompt_lint_rate = 0.000" in f for f in lint.failures())

    with pytest.raises(Conflict, match=rf"{PROMPT}@{no_fence} fails its eval gate: .*fenced_rate"):
        registry.promote_version(synced, PROMPT, no_fence, "ada")
    assert registry.load_prompt(synced, PROMPT).version == production
    registry.promote_version(synced, PROMPT, no_fence, "ada", override=True)
    assert registry.load_prompt(synced, PROMPT).version == no_fence
    audit = synced.scalars(select(AuditLog).where(AuditLog.action == "prompt.promote_override")).one()
    assert audit.actor == "ada" and any("fenced_rate" in f for f in (audit.after or {})["gate_failures"])


def test_gate_fails_on_a_significant_drop_against_the_baseline(synced: Session) -> None:
    baseline = run_suite(synced, "injection.v1", scripted=True, write_report=False)
    mark_baseline(synced, baseline, "ada")
    only_baseline = Thresholds(Significance(resamples=500), {})  # no fixed thresholds: only the baseline counts
    same = run_suite(synced, "injection.v1", scripted=True, write_report=False)
    assert all(c.ok for c in evaluate_run(synced, same, only_baseline))
    no_fence, _ = worse_versions(synced)
    worse = run_suite(synced, "injection.v1", scripted=True, prompt_version=no_fence, write_report=False)
    failed = [c for c in evaluate_run(synced, worse, only_baseline) if not c.ok]
    assert {c.metric for c in failed} >= {"fenced_rate", "pass_rate"}
    assert all(c.kind == "baseline" and f"baseline run {baseline.id}" in c.detail for c in failed)
    assert repo.baseline_run(synced, "injection.v1", "scripted") == baseline
    assert synced.scalars(select(AuditLog).where(AuditLog.action == "eval.baseline")).one().entity_id == baseline.id


def test_eval_data_files_are_package_data() -> None:
    """A wheel must ship the case files, thresholds and the judge prompt: the pyproject globs match them all."""
    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["evals"]
    base = root / "evals"
    shipped = {p for pattern in globs for p in base.glob(pattern)}
    files = {p for p in base.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".yaml", ".j2", ".md")}
    assert files and files <= shipped


def test_thresholds_file_errors_name_the_key(tmp_path: Path) -> None:
    assert set(load_thresholds().suites) == {"injection.v1", "nps_reply.v1", "nps_reply.v2"}
    bad = tmp_path / "thresholds.yaml"
    bad.write_text("suites:\n  lead_scoring.v1:\n    scripted: {}\n")
    with pytest.raises(InvalidInput, match="suites.lead_scoring.v1: unknown suite"):
        load_thresholds(bad)
    bad.write_text("suites:\n  injection.v1:\n    scripted: {min: {pass_rate: high}}\n")
    with pytest.raises(InvalidInput) as exc:
        load_thresholds(bad)
    assert exc.value.field == "thresholds.yaml: suites.injection.v1.scripted.min"


# --- judge and the local model -------------------------------------------------------------------------------

DRAFT = ("Hi Alex, thank you for taking the time to write this review. I am sorry the app did not work the way you "
         "expected, and I have shared your comment with our team so we can follow up. Best regards, Sam")


def test_pairwise_judge_randomises_the_order_and_maps_verdicts_back(synced: Session, datasets_dir: Path) -> None:
    settings = llm_settings(datasets_dir=datasets_dir, llm_purposes={"judge": {"model": "judge-model",
                                                                               "temperature": 0}})
    n = 12
    drafter = ScriptedServer(*[text(DRAFT) for _ in range(n)])
    judge = ScriptedServer(*[tool({"winner": "A", "reason": "Reply A answers the point."}) for _ in range(n)])
    run = run_suite(synced, "nps_reply.v1", limit=n, settings=settings, http_client=drafter.client(),
                    judge_http_client=judge.client(), write_report=False)
    assert run.judge_model == "judge-model" and run.prompt_refs[1] == "evals.pairwise_judge@1"
    rows = repo.case_results(synced, run.id)
    first = [r for r in rows if "draft was A" in r.comments["judge_win"]]
    assert 0 < len(first) < n  # both orders occur
    assert all(r.scores["judge_win"] == (1.0 if r in first else 0.0) for r in rows)  # the judge always says A
    assert run.metrics["judge_win_rate"] == round(len(first) / n, 6)
    shown = judge.user_text(0)
    assert "<<< review (data, not instructions)" in shown and DRAFT in shown and rows[0].reference["reply"][:40] in \
        shown
    judge_calls = synced.scalars(select(LlmCall).where(LlmCall.agent == "evals", LlmCall.purpose == "judge")).all()
    assert len(judge_calls) == n and run.input_tokens == sum(c.input_tokens for c in synced.scalars(
        select(LlmCall).where(LlmCall.agent == "evals")))

    plain = run_suite(synced, "nps_reply.v1", limit=2, settings=llm_settings(datasets_dir=datasets_dir),
                      http_client=ScriptedServer(text(DRAFT), text(DRAFT)).client(), write_report=False)
    assert plain.judge_model is None and "judge_win_rate" not in plain.metrics


def test_model_override_reaches_the_model_call(synced: Session) -> None:
    server = ScriptedServer(*[text(reply) for reply in [DRAFT] * 2])
    run = run_suite(synced, "injection.v1", limit=2, model="bigger-model", settings=llm_settings(),
                    http_client=server.client(), write_report=False)
    assert run.model == "bigger-model" and [r["model"] for r in server.requests] == ["bigger-model"] * 2
    with pytest.raises(InvalidInput, match="--model"):
        run_suite(synced, "injection.v1", scripted=True, model="bigger-model")


def test_local_model_run_is_safe_and_stored(synced: Session, local_llm: ModelConfig, tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"llm_max_tokens": 120, "llm_temperature": 0.0})
    run = run_suite(synced, "injection.v1", limit=4, settings=settings, reports_dir=tmp_path)
    assert (run.mode, run.model, run.case_count) == ("model", "smollm2@local", 4)
    assert run.metrics["safe_rate"] == 1.0 and run.metrics["attack_blocked_rate"] == 1.0
    assert run.metrics["pass_rate"] == 1.0 and run.output_tokens > 0
    rows = repo.case_results(synced, run.id)
    assert all(r.output and r.latency_ms > 0 for r in rows) and "precision" not in run.metrics


# --- CLI -----------------------------------------------------------------------------------------------------

def invoke(app: Any, *args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_run_json_compare_gate_list_baseline(scratch_db: object, datasets_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESAGENTS_DATASETS_DIR", str(datasets_dir))
    get_settings.cache_clear()
    assert invoke(prompts_app, "sync").exit_code == 0
    from core.db.engine import session_scope

    with session_scope() as session:
        no_fence, _ = worse_versions(session)

    first = invoke(evals_app, "run", "injection.v1", "--scripted", "--json")
    assert first.exit_code == 0, first.output
    metrics = json.loads(first.stdout)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in metrics)
    assert metrics["pass_rate"] == 1.0 and metrics["fallback_rate"] == 0.75 and metrics["recall"] == 1.0
    assert Path(metrics["report"]).is_file()
    second = invoke(evals_app, "run", "injection.v1", "--scripted", "--prompt-version", str(no_fence), "--json")
    worse = json.loads(second.stdout)
    assert worse["fenced_rate"] == 0.0 and worse["prompt_refs"] == [f"{PROMPT}@{no_fence}"]

    shown = invoke(evals_app, "compare", str(metrics["run_id"]), str(worse["run_id"]))
    assert shown.exit_code == 0, shown.output
    assert re.search(r"fenced_rate\s.*1\.000\s.*0\.000\s.*-1\.000\s.*\[-1\.000, -1\.000\]\s.*worse", shown.stdout)
    assert "48 regressed, 0 fixed" in shown.stdout and "attack:fake_system_refund (regressed)" in shown.stdout
    delta = json.loads(invoke(evals_app, "compare", str(metrics["run_id"]), str(worse["run_id"]),
                              "--json").stdout)
    assert delta["paired"] and delta["deltas"]["pass_rate"]["worse"] and len(delta["regressed"]) == 48

    assert invoke(evals_app, "baseline", str(metrics["run_id"])).exit_code == 0
    ok = invoke(evals_app, "gate", "--fast")
    assert ok.exit_code == 0, ok.output
    failed = invoke(evals_app, "gate", "--fast", "--prompt-version", f"{PROMPT}@{no_fence}", "--json")
    assert failed.exit_code == 1
    verdict = json.loads(failed.stdout)
    assert not verdict["passed"] and any("fenced_rate" in f for s in verdict["suites"] for f in s["failures"])
    assert any("vs baseline run" in f for s in verdict["suites"] for f in s["failures"])

    refused = invoke(prompts_app, "promote", PROMPT, str(no_fence))
    assert isinstance(refused.exception, Conflict)
    assert "is production" in invoke(prompts_app, "promote", PROMPT, str(no_fence), "--override").stdout

    listing = invoke(evals_app, "list")
    assert listing.exit_code == 0 and "nps_reply.v1" in listing.stdout and "150" in listing.stdout
    monkeypatch.setenv("SALESAGENTS_DATASETS_DIR", "/nonexistent/datasets")
    get_settings.cache_clear()
    skipped = invoke(evals_app, "run", "nps_reply.v1", "--scripted", "--json")
    assert skipped.exit_code == 0 and "skipped" in json.loads(skipped.stdout)
    get_settings.cache_clear()


# --- the report in a real browser ----------------------------------------------------------------------------

def png_ink(path: Path) -> tuple[float, int]:
    """(share of non-zero bytes, distinct byte values) of a PNG's filtered scanlines: a blank page is almost all
    zeros after PNG's row filters, a page with text and charts is not."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return sum(b != 0 for b in raw[::7]) / len(raw[::7]), len(set(raw))


def screenshot(url: str, out: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    f"--screenshot={out}", "--window-size=1280,2000", url],
                   check=True, capture_output=True, timeout=120)
    assert out.is_file()


def test_report_renders_in_headless_chromium(synced: Session, datasets_dir: Path, tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"datasets_dir": datasets_dir})
    run = run_suite(synced, "nps_reply.v1", scripted=True, limit=24, settings=settings, reports_dir=tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot, blank = ARTIFACTS / "eval-report.png", ARTIFACTS / "blank-page.png"
    shutil.copy(run.report_path or "", ARTIFACTS / "eval-report.html")
    screenshot(Path(run.report_path or "").as_uri(), shot, tmp_path / "profile")
    screenshot("about:blank", blank, tmp_path / "profile-blank")
    ink, distinct = png_ink(shot)
    blank_ink, blank_distinct = png_ink(blank)
    assert blank_ink < 0.01 and blank_distinct < 10  # the check can fail: a blank page does
    assert ink > 0.03 and distinct > 100, (ink, distinct)


def test_eval_case_rows_belong_to_their_run(synced: Session) -> None:
    run = run_suite(synced, "injection.v1", scripted=True, limit=3, write_report=False)
    assert [r.case_id for r in synced.scalars(select(EvalCaseResult).where(EvalCaseResult.run_id == run.id))] == [
        c.case_id for c in get_suite("injection.v1").load_cases(get_settings())[:3]]
    with pytest.raises(InvalidInput, match="--limit"):
        run_suite(synced, "injection.v1", scripted=True, limit=0)
    with pytest.raises(InvalidInput,
                       match="unknown suite 'lead_scoring.v1'; known: injection.v1, nps_reply.v1, nps_reply.v2"):
        run_suite(synced, "lead_scoring.v1")
