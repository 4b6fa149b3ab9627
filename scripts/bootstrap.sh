#!/usr/bin/env bash
# Make this machine able to run ECM: Debian packages for PostgreSQL and Mosquitto (only when
# missing), then .venv with the project installed. Safe to rerun; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else
        echo "bootstrap: need root to run: $*" >&2
        exit 1
    fi
}

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
    || missing+=(postgresql)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# The portal's browser tests drive Debian's headless Chromium through its chromedriver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# ... and check every page with axe-core, installed from npm (below).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]} from Debian"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    python3 -m venv .venv
fi

# Reinstall only when the dependency list changes.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing the project into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# axe-core for the portal's accessibility checks (docs/portal.md), pinned by its lock file and
# installed once per lock file; tests/api/browser_support.py reads the same stamp. Without it
# the browser tests fail (ECM_SKIP_AXE=1 runs them without axe), so a failed install here is
# said loudly but does not stop `make demo`.
axe_dir=.state/axe-harness
axe_stamp="$axe_dir/node_modules/.installed-$(sha256sum tests/api/axe/package-lock.json | cut -c1-16)"
if [ ! -f "$axe_stamp" ]; then
    echo "bootstrap: installing axe-core for the portal's browser tests (npm ci)"
    mkdir -p "$axe_dir"
    cp tests/api/axe/package.json tests/api/axe/package-lock.json "$axe_dir/"
    if (cd "$axe_dir" && npm ci --no-audit --no-fund --loglevel=error); then
        touch "$axe_stamp"
    else
        echo "bootstrap: WARNING: npm ci for axe-core failed; the portal's browser tests will" \
            "fail until it installs (or set ECM_SKIP_AXE=1)" >&2
    fi
fi
