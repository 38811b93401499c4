# Sourced by scripts/test and scripts/lock: the locked test environments, uv, and the Pythons.
# shellcheck shell=bash

# One line per locked environment: lock name, Python version, extras, extra inputs (requirements/*.in).
# The lock is requirements/<name>.txt; scripts/lock rewrites them all.
LOCKED_ENVS=(
  "test-py3.11        3.11 test,azureml,docker,lab -"
  "ipykernel6-py3.11  3.11 test                    ipykernel6.in"
  "floors-py3.10      3.10 test,azureml            floors.in"
  "core-py3.13        3.13 test,docker,lab         -"
  "lab-oldest-py3.11  3.11 test,lab                lab-oldest.in"
)

# uv resolves and installs (much faster than pip on a cold machine); pinned, and installed with pip
# into .cache/ when the machine has no uv of this version.
UV_VERSION=0.13.9
if [ -z "${UV:-}" ]; then
  if command -v uv >/dev/null && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
    UV=uv
  else
    UV="$PWD/.cache/uv-$UV_VERSION/bin/uv"
    [ -x "$UV" ] || "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check \
      --target "$PWD/.cache/uv-$UV_VERSION" "uv==$UV_VERSION"
  fi
fi
export UV_NO_PROGRESS=1 UV_PYTHON_DOWNLOADS=never

find_python() {  # find_python 3.X: the path of an installed CPython 3.X (pyenv's or on PATH)
  local version="$1" candidate
  for candidate in $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/$version".*/bin/"python$version" 2>/dev/null | sort -V -r) \
                   "$(command -v "python$version" || true)"; do
    [ -n "$candidate" ] && "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (${version/./, }))" 2>/dev/null \
      && { echo "$candidate"; return; }
  done
  echo "Python $version is not installed (pyenv install $version, or apt); the test command runs on 3.10, 3.11 and 3.13 (scripts/test --quick needs only 3.11)" >&2
  return 1
}

make_env() {  # make_env DIR LOCK_NAME: DIR holds exactly requirements/LOCK_NAME.txt, plus this project (editable)
  local dir="$1" lock="requirements/$2.txt" version
  version="$(awk -v name="$2" '$1 == name {print $2}' <<<"$(printf '%s\n' "${LOCKED_ENVS[@]}")")"
  make_unlocked_env "$dir" "$version"
  "$UV" pip sync --quiet --python "$dir/bin/python" "$lock"
  install_project "$dir"
}

make_unlocked_env() {  # make_unlocked_env DIR PYTHON_VERSION: an (empty or existing) venv of that Python
  local dir="$1" version="$2" python
  python="$(find_python "$version")"
  if ! "$dir/bin/python" -c "import sys; sys.exit(sys.version_info[:2] != (${version/./, }))" 2>/dev/null; then
    rm -rf "$dir"
    "$UV" venv --quiet --python "$python" "$dir"
  fi
}

install_project() {  # install_project DIR: this project, editable, with its locked build tools
  local dir="$1"
  # --refresh-package: uv would otherwise reuse its cached build, whose copy of the JupyterLab
  # extension may be older than labextension/src.
  PATH="$dir/bin:$PATH" "$UV" pip install --quiet --python "$dir/bin/python" --no-build-isolation \
    --refresh-package amldebug-jupyter --no-deps -e .
}
