"""Print the project's dependencies from pyproject.toml for the Docker build, optionally without llama-cpp-python.

Runs before the package is installed (standard library only). llama-cpp-python is source-only and needs a
compiler; only the model-server image needs it, so the application image installs everything else and then the
package itself with `--no-deps`. torch is printed separately (`--torch`) because it must come from the CPU index:
PyPI's Linux wheels pull several GB of CUDA libraries.

Usage: python deploy/requirements.py [--with-llama] [--torch] [pyproject.toml]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

LLAMA = "llama-cpp-python"
TORCH = "torch"


def distribution(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement string."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(pyproject: Path, *, with_llama: bool, torch: bool) -> list[str]:
    """torch only (torch=True), or every other dependency, llama-cpp-python included only on request."""
    deps: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    if torch:
        return [dep for dep in deps if distribution(dep) == TORCH]
    return [dep for dep in deps if distribution(dep) != TORCH and (with_llama or distribution(dep) != LLAMA)]


def main(argv: list[str]) -> int:
    flags = {arg for arg in argv if arg.startswith("--")}
    unknown = flags - {"--with-llama", "--torch"}
    if unknown:
        print(f"unknown option(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    paths = [arg for arg in argv if not arg.startswith("--")]
    pyproject = Path(paths[0]) if paths else Path("pyproject.toml")
    for line in requirements(pyproject, with_llama="--with-llama" in flags, torch="--torch" in flags):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
