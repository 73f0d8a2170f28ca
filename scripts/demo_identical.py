"""Check that the demo's outputs are byte-identical between a git ref and the work tree.

    .venv/bin/python scripts/demo_identical.py [REF]      (REF defaults to HEAD)

Runs ``roiste demo`` twice into the same temporary path: once from a checkout of REF (its
code put first on the import path, so a ref from before the single ``roiste`` import name runs
too), once from the installed work tree.  Then compares allocation.csv, summary.json,
curves.json and plan.xlsx byte for byte and exits 1 on the first difference.  A change of
behaviour that is meant shows here too: say so in the commit that makes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("plan/allocation.csv", "plan/summary.json", "curves.json", "plan/plan.xlsx")


def import_root(tree: Path, links: Path) -> tuple[Path, str]:
    """The path to put first on the import path for ``tree``, and its command-line module.

    A tree of the single-name layout is laid out as it installs (``roiste/models`` ...) in a
    folder of links, so that its own code is imported, not the installed work tree's."""
    if not (tree / "roiste").is_dir():
        return tree, "optimizer.cli"
    pkg = links / "roiste"
    pkg.mkdir(parents=True)
    for f in (tree / "roiste").glob("*.py"):
        (pkg / f.name).symlink_to(f)
    for d in ("models", "optimizer", "tracking"):
        (pkg / d).symlink_to(tree / d)
    return links, "roiste.optimizer.cli"


def run_demo(tree: Path, out: Path, links: Path) -> dict[str, str]:
    path, module = import_root(tree, links)
    env = dict(os.environ, PYTHONPATH=str(path))
    code = f"import sys; from {module} import main; sys.argv = ['roiste', *sys.argv[1:]]; main()"
    subprocess.run([sys.executable, "-c", code, "demo", "--out", str(out), "--force", "--quiet"],
                   check=True, env=env, cwd=tree)
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES}


def main() -> int:
    ref = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        old_tree = base / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), ref],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            out = base / "demo"
            old = run_demo(old_tree, out, base / "links-ref")
            shutil.rmtree(out)
            new = run_demo(ROOT, out, base / "links-new")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT,
                           check=False, capture_output=True)
    bad = [f for f in FILES if old[f] != new[f]]
    for f in FILES:
        print(f"{'same' if f not in bad else 'DIFFERS'}  {f}  {new[f][:16]}")
    if bad:
        print(f"demo outputs differ from {ref}: {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"demo outputs byte-identical to {ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
