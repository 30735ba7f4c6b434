#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium for the browser tests, PostgreSQL for the database tests,
# libcairo2 for PNG pictures (CairoSVG draws with it), docker-compose to check docker-compose.yml
# (`docker-compose config`; no Docker engine is needed for that), kubectl (kubernetes-client) to read the YAML we
# write as kubectl reads it, nginx for the buffering proxy test, gcc and Python's headers to build the compiled
# flow modules (setup.py).
# Installs only what is missing; needs root or password-less sudo (CI runs as root).
set -euo pipefail
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
compgen -G "/usr/lib/*/libcairo.so.2" >/dev/null || missing+=(libcairo2)
[[ -x /usr/bin/kubectl ]] || missing+=(kubernetes-client)
command -v "${CC:-cc}" >/dev/null || missing+=(gcc libc6-dev)
# and Python's headers (Debian's python3 has them in python3-dev; a Python built from source has its own)
[[ -f "$(python3 -c "import sysconfig; print(sysconfig.get_path('include'))")/Python.h" ]] || missing+=(python3-dev)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
  echo "system-packages: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
fi
echo "system-packages: installing ${missing[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
