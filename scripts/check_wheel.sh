#!/usr/bin/env bash
# Check that the wheel carries the prebuilt JupyterLab extension (the extension template's
# "test_isolated" job):
#   1. build the wheel from the current sources (node is needed here, and only here);
#   2. install it with jupyterlab into a fresh venv with NO node on PATH;
#   3. `jupyter labextension list` must show amldebug-jupyter "enabled" and "OK";
#   4. `python -m jupyterlab.browser_check` must load JupyterLab without errors, in Debian's
#      Chromium driven by Playwright (no browser download: a Playwright browser registry is
#      faked with a wrapper around the system Chromium).
# Usage: scripts/check_wheel.sh [--no-browser]     Environment: PYTHON (default python3),
#        AMLDEBUG_CHECK_DIR (scratch directory; default a new temporary one, removed on success).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
browser=1
[ "${1:-}" = "--no-browser" ] && browser=0

work="${AMLDEBUG_CHECK_DIR:-$(mktemp -d -t amldebug-wheel-XXXXXX)}"
mkdir -p "$work"
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "build the wheel (fresh labextension build)"
command -v node >/dev/null || { echo "node is needed to build the extension" >&2; exit 1; }
rm -rf amldebug_jupyter/labextension "$work/dist"
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" .
wheel="$(ls "$work"/dist/amldebug_jupyter-*.whl)"
"$python" - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
ext = ".data/data/share/jupyter/labextensions/amldebug-jupyter/"
need = [ext + f for f in ("package.json", "install.json", "static/style.js", "schemas/amldebug-jupyter/plugin.json")]
need += ["amldebug_jupyter/notebook/comm_schema.json", "amldebug_jupyter/py.typed"]
missing = [n for n in need if not any(name.endswith(n) for name in names)]
assert not missing, f"wheel lacks {missing}"
print("wheel contents OK:", sys.argv[1].rsplit("/", 1)[-1])
EOF

step "install wheel + jupyterlab with no node on PATH"
venv="$work/venv"
rm -rf "$venv"
"$python" -m venv "$venv"
nonode_path="$venv/bin"   # only the venv: /bin and /usr/bin hold node on Debian
PATH="$nonode_path" "$venv/bin/python" -c \
  "import shutil, sys; sys.exit('node is still reachable' if shutil.which('node') or shutil.which('npm') else 0)"
PATH="$nonode_path" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --only-binary=:all: "$wheel" "jupyterlab>=4,<5"

step "jupyter labextension list"
listing="$(PATH="$nonode_path" "$venv/bin/jupyter" labextension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g')"
echo "$listing"
echo "$listing" | grep -Eq 'amldebug-jupyter v[^ ]+ +enabled +OK' \
  || { echo "amldebug-jupyter is not listed as enabled OK" >&2; exit 1; }

if [ "$browser" = 1 ]; then
  step "python -m jupyterlab.browser_check (Debian Chromium)"
  chromium_bin=/usr/lib/chromium/chromium
  if [ ! -x "$chromium_bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    [ -x "$chromium_bin" ] || chromium_bin="$(command -v chromium || true)"
    [ -n "$chromium_bin" ] || { echo "no chromium (apt-get install chromium)" >&2; exit 1; }
  fi
  # browser_check installs playwright into <app dir>/browser_test unless node_modules exists,
  # then runs `npx playwright install chromium` (a download) and browser-test.js. Install
  # playwright there ourselves, and point PLAYWRIGHT_BROWSERS_PATH at a registry whose browsers
  # are marked installed and whose executables run the system Chromium.
  app_dir="$("$venv/bin/python" -c 'from jupyterlab.commands import get_app_dir; print(get_app_dir())')"
  bt="$app_dir/browser_test"
  mkdir -p "$bt"
  (cd "$bt" && [ -f package.json ] || npm init -y >/dev/null)
  (cd "$bt" && npm install --silent --no-audit --no-fund "playwright@^1.9.2" >/dev/null)
  export PLAYWRIGHT_BROWSERS_PATH="$work/pw-browsers"
  for dir in $(cd "$bt" && npx --no-install playwright install --dry-run chromium 2>/dev/null \
               | sed -n 's/^ *Install location: *//p'); do
    mkdir -p "$dir" && touch "$dir/INSTALLATION_COMPLETE"
  done
  for _ in 1 2 3; do   # each launch names the executable it could not find
    missing="$(cd "$bt" && node -e "require('playwright').chromium.launch().then(b => b.close()).catch(e => console.log(e.message))" \
               | sed -n "s/.*Executable doesn't exist at \(.*\)$/\1/p")"
    [ -n "$missing" ] || break
    mkdir -p "$(dirname "$missing")"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$chromium_bin" > "$missing"
    chmod +x "$missing"
  done
  export JLAB_BROWSER_CHECK_OUTPUT="$work/screenshots"
  root_flag=(); [ "$(id -u)" = 0 ] && root_flag=(--allow-root)
  PATH="$venv/bin:$PATH" "$venv/bin/python" -m jupyterlab.browser_check "${root_flag[@]}"
fi

step "all checks passed"
[ -n "${AMLDEBUG_CHECK_DIR:-}" ] || rm -rf "$work"
