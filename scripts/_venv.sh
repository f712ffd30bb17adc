# Sourced by the scripts: a virtual environment in .venv with gridpilot and the pinned dependencies.
# Usage: ensure_venv EXTRAS   (e.g. "server" or "dev")
ensure_venv() {
  local extras="$1" root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=".venv/.installed-$extras"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    echo "installing gridpilot[$extras] with pinned dependencies (constraints.txt)..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$extras]"
    touch "$stamp"
  fi
}
