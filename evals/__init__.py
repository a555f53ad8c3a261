"""Eval harness: versioned suites, evaluators, runner, reports, run comparison and the regression gate."""
