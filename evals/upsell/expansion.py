"""`salesagents eval run expansion [--json]`: the Expansion Signal Detector's scenario suite (see __main__)."""

from __future__ import annotations

from evals.upsell.__main__ import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, kind="expansion")


if __name__ == "__main__":
    raise SystemExit(main())
