#!/usr/bin/env bash
# Install what tanuki's code sandbox needs from Debian/Ubuntu packages. Idempotent: safe to re-run; it only
# installs what is missing and says what it does. Called by the project's install.sh.
#
#   bubblewrap       the jail backend (namespaces, private root, seccomp loading)
#   util-linux       setpriv (drop to a throw-away uid) and prlimit (rlimits in user-namespace mode)
#   tar, bash        move compiled artifacts / collected files out of the sandbox as a stream
#   node-typescript  TypeScript support (optional; transpiled inside the sandbox)
#
# Language toolchains (python3, nodejs, default-jdk-headless, gcc, g++, Go, Rust) are the project's
# install.sh's business; `tanuki doctor` lists which languages are usable.
set -euo pipefail

REQUIRED=(bubblewrap util-linux tar bash)
OPTIONAL=(node-typescript)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "sandbox/install-deps.sh: run as root (or install sudo)" >&2; exit 1; fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "sandbox/install-deps.sh: no apt-get; install these yourself: ${REQUIRED[*]} ${OPTIONAL[*]}" >&2
  exit 1
fi

missing() {
  local out=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

need=$(missing "${REQUIRED[@]}")
want=$(missing "${OPTIONAL[@]}")
if [ -z "$need" ] && [ -z "$want" ]; then
  echo "sandbox: all packages present (${REQUIRED[*]} ${OPTIONAL[*]})"
else
  echo "sandbox: installing: $need $want"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  [ -z "$need" ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
  # shellcheck disable=SC2086
  [ -z "$want" ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $want \
    || echo "sandbox: optional packages not installed ($want): TypeScript will be unavailable"
fi

echo "sandbox: bwrap $(bwrap --version 2>/dev/null | awk '{print $2}') at $(command -v bwrap)"
if [ "$(id -u)" -ne 0 ]; then
  if [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = "0" ] ||
     [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)" = "0" ]; then
    echo "sandbox: WARNING unprivileged user namespaces are disabled; run tanuki as root or enable them" >&2
  fi
fi
echo "sandbox: done (check with: tanuki sandbox check)"
