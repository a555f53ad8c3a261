"""Deterministic rules of the Quote Follow-up agent: which sent quotes get a nudge, in which window."""
