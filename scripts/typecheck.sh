#!/usr/bin/env bash
# mypy over the installed layout: roiste.models, roiste.optimizer, roiste.tracking.
# mypy cannot follow setuptools' editable import hook (package-dir maps the top-level folders
# under one name), so it reads a tree of links that lays the folders out as they install.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/roiste"
for f in roiste/*.py; do ln -s "$root/$f" "$tree/roiste/"; done
for d in models optimizer tracking; do ln -s "$root/$d" "$tree/roiste/$d"; done
cd "$tree"
exec "$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p roiste
