#!/bin/sh
# check-dist, step 1 (in a pristine Debian 12 chroot, from a clone of HEAD):
# `make deb` from nothing but the base system, then lintian on the result.
#
#   tests/dist/build.sh OUTDIR
#
# The packages, the .changes and lintian's output (lintian.txt) go to OUTDIR.
# Fails on any lintian error or warning.
set -eu
out=$1
say() { printf '\n==> %s\n' "$*"; }

say "make deb"
make --no-print-directory deb DEB_DIR=build-deb
cp build-deb/*.deb build-deb/*.changes build-deb/*.buildinfo "$out/"

say "lintian"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
# --pedantic and --show-overrides: every tag is shown (I:, P: and the
# overridden O: included); only E: and W: fail. lintian warns that it runs
# as root: the chroot is ours.
lintian --pedantic --info --show-overrides build-deb/*.changes >"$out/lintian.txt" 2>&1 || true
grep -v '^N:' "$out/lintian.txt" | grep -v 'running with root privileges' || true
if grep -q '^[EW]: ' "$out/lintian.txt"; then
	echo "lintian: errors or warnings (above)" >&2
	exit 1
fi
echo "lintian: no errors, no warnings"
