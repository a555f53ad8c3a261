"""Deterministic signals of the Upsell and Expansion detectors, each with its evidence, and the renewal rules."""
