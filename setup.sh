#!/usr/bin/env bash
# aesdata set-up: system packages (when root), a virtualenv with aesdata + dev tools, the offline asset store.
# Idempotent and quick the second time. Usage: ./setup.sh   (env: PYTHON=python3.11, AESDATA_SKIP_APT=1)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
APT_PACKAGES="chromium chromium-headless-shell fonts-liberation fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji bubblewrap fontconfig"

missing_apt() {
  local miss=()
  for p in $APT_PACKAGES; do
    dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -q '^installed$' || miss+=("$p")
  done
  echo "${miss[@]:-}"
}

if command -v dpkg-query >/dev/null 2>&1; then
  miss=$(missing_apt)
  if [ -n "$miss" ]; then
    if [ "$(id -u)" = 0 ] && [ -z "${AESDATA_SKIP_APT:-}" ]; then
      echo "==> installing system packages: $miss"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $miss >/dev/null
    else
      echo "==> missing system packages: $miss"
      echo "    install them with: sudo apt-get install -y $miss"
      echo "    (or set up Playwright's own Chromium: .venv/bin/playwright install chromium)"
    fi
  fi
else
  echo "==> not a Debian/Ubuntu system: install Chromium (or run '.venv/bin/playwright install chromium'),"
  echo "    Noto fonts (core, CJK, colour emoji), DejaVu, Liberation, and bubblewrap with your package manager."
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
echo "==> installing aesdata[dev] into .venv (CPU torch pinned by .ci/constraints.txt)"
# (pip's "Location ... is ignored" lines come from index mirrors in some pip configs: noise, filtered)
{ .venv/bin/python -m pip install -q --disable-pip-version-check -c .ci/constraints.txt -e '.[dev]' 2>&1; } \
  | { grep -v "^WARNING: Location 'file:" || true; }
.venv/bin/python - <<'PY'
import torch
assert torch.__version__.endswith("+cpu") or torch.cuda.is_available(), f"unexpected torch build {torch.__version__}"
PY
if .venv/bin/python -c "import aesdata.render.assets" 2>/dev/null; then
  echo "==> filling the offline asset store (pinned CDN libraries and fonts)"
  .venv/bin/aesdata assets fetch
fi
echo "==> set-up done: .venv/bin/aesdata doctor shows what was found"
