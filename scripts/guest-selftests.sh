#!/usr/bin/env bash
# The kernel's own KSM selftests of each era, built statically from Debian's kernel sources and
# run in the guest kernels (docs/guest-kernels.md, "The kernel's own selftests in the guests").
# Root; needs `pnpm mmsim kernels install` first. Writes one transcript per kernel and program to
# scenarios/selftests/, which apps/demo/test/guest-selftests.test.ts checks offline
# against the simulator.
#
#   sudo scripts/guest-selftests.sh            # fetch, build, run, record
#   sudo scripts/guest-selftests.sh --build    # fetch and build only (binaries in the cache)
#   sudo scripts/guest-selftests.sh --unmerge  # also ksm_tests -D -s 128 (MADV_UNMERGEABLE speed)
#
# Sources (Debian's archive only): linux-source-6.1 (6.1.192; tools/testing/selftests/vm) and
# linux-source-6.12 (bookworm's 6.12.y; tools/testing/selftests/mm), the 6.12 UAPI headers from
# bookworm-backports' linux-libc-dev (extracted, not installed), libnuma-dev for libnuma.a.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${MMSIM_KERNELS_DIR:-/var/cache/mmsim/kernels}
st=$cache/selftests
bin=$st/bin
out=$repo/scenarios/selftests
mode=${1:-run}

[ "$(id -u)" = 0 ] || { echo "guest-selftests: needs root (apt-get, QEMU)" >&2; exit 2; }
mkdir -p "$cache/debs" "$bin"

# --- fetch (each once) ---
if ! dpkg-query -W -f='${Status}' libnuma-dev 2>/dev/null | grep -q 'install ok installed'; then
  apt-get install -y -qq --no-install-recommends libnuma-dev >/dev/null
fi
fetch() { # package [suite]
  local pkg=$1 suite=${2:-}
  if ! ls "$cache/debs/${pkg}"_*.deb >/dev/null 2>&1; then
    (cd "$cache/debs" && apt-get download -qq "${pkg}${suite:+/$suite}")
  fi
  ls "$cache/debs/${pkg}"_*.deb | head -1
}
extract_source() { # version directory-inside-selftests
  local v=$1 dir=$2 deb
  [ -d "$st/linux-source-$v/tools/testing/selftests/$dir" ] && return
  deb=$(fetch "linux-source-$v")
  mkdir -p "$st/linux-source-$v"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -O --wildcards './usr/src/linux-source-*.tar.xz' |
    tar -xJ -C "$st/linux-source-$v" --strip-components=1 --wildcards \
      "*/tools/testing/selftests/$dir/*" '*/tools/testing/selftests/kselftest*' '*/tools/include/*'
}
extract_source 6.1 vm
extract_source 6.12 mm
if [ ! -d "$st/uapi-6.12/usr/include/linux" ]; then
  dpkg-deb -x "$(fetch linux-libc-dev bookworm-backports)" "$st/uapi-6.12"
fi

# --- build (static; the kernel tree's include/vdso/time64.h comes from native/selftest-shim) ---
shim=$repo/native/selftest-shim
v61=$st/linux-source-6.1/tools/testing/selftests/vm
v612=$st/linux-source-6.12/tools/testing/selftests/mm
cc -static -O2 -w -I"$shim" -I"$st/linux-source-6.1/tools/include" \
  -o "$bin/ksm_tests-6.1" "$v61/ksm_tests.c" "$v61/vm_util.c" -lnuma
# glibc 2.36 has no PR_SET_MEMORY_MERGE (6.4): the values of include/uapi/linux/prctl.h
flags612=(-static -O2 -w -I"$shim" -isystem "$st/uapi-6.12/usr/include" -DPR_SET_MEMORY_MERGE=67 -DPR_GET_MEMORY_MERGE=68)
cc "${flags612[@]}" -o "$bin/ksm_tests-6.12" "$v612/ksm_tests.c" "$v612/vm_util.c" "$v612/thp_settings.c" -lnuma
cc "${flags612[@]}" -o "$bin/ksm_functional_tests-6.12" "$v612/ksm_functional_tests.c" "$v612/vm_util.c"
echo "guest-selftests: built $(ls "$bin" | tr '\n' ' ')"
[ "$mode" = --build ] && exit 0

# --- run: one boot per kernel and program; the transcript is what `kernels exec` prints ---
mkdir -p "$out"
record() { # file kernel program [kernels exec options...]
  local file=$1 kernel=$2 prog=$3
  shift 3
  pnpm --silent mmsim kernels exec "$kernel" "$bin/$prog" "$@" >"$out/$file.txt" 2>&1 || true
  echo "guest-selftests: $file: $(grep -c '^\$ ' "$out/$file.txt") runs"
}
# ksm_tests of 6.1 (-N needs two nodes, so that boot has two). -a cannot ask for PROT_NONE: a
# prot of 0 falls back to the default "rw" in main().
record 6.1-ksm_tests 6.1 ksm_tests-6.1 --numa 2 --memory 1536 \
  --each "-M -p 10" --each "-M -p 10 -a r" --each "-M -p 10 -a rw" \
  --each "-U" --each "-Z -p 10 -z 0" --each "-Z -p 10 -z 1" --each "-N -m 1" --each "-N -m 0"
# ksm_functional_tests of 6.12 on both 6.12 point releases, and on 6.1 (no prctl there)
for k in 6.12 6.12.43 6.1; do
  record "$k-ksm_functional_tests" "$k" ksm_functional_tests-6.12
done
if [ "$mode" = --unmerge ]; then
  # the 2022 thread's measurement: the same binary, -D -s 128, three runs per boot, kernels interleaved
  for round in 1 2; do
    for k in 6.1 6.12.43 6.12; do
      pnpm --silent mmsim kernels exec "$k" "$bin/ksm_tests-6.12" --memory 1536 \
        --each "-D -s 128" --each "-D -s 128" --each "-D -s 128" 2>&1 | grep -E 'MiB/s|^\$' |
        sed "s/^/$k round $round: /"
    done
  done
fi
