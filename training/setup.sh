#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv for training/ and installs training/requirements.txt
# only when that file changed since the last install (a sha256 marker inside the venv).
#   training/setup.sh            # then: "$MSA_VENV/bin/python" -m pytest training/tests -q
# Env: MSA_CACHE_DIR (default ~/.cache/msa), PYTHON (default python3.11, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
venv="${MSA_CACHE_DIR:-$HOME/.cache/msa}/venv"
marker="$venv/.msa-requirements.sha256"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [ ! -x "$venv/bin/python" ]; then
  py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  if [ -z "$py" ]; then
    echo "setup.sh: no python3.11 or python3 on PATH; install Python 3.11 or set PYTHON=/path/to/python" >&2
    exit 1
  fi
  echo "setup.sh: creating $venv with $py" >&2
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$marker" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "setup.sh: installing $req into $venv" >&2
  "$venv/bin/python" -m pip install --quiet -r "$req"
  echo "$want" > "$marker"
else
  echo "setup.sh: $venv is up to date with requirements.txt" >&2
fi
echo "$venv"
