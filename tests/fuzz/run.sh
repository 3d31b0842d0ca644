#!/bin/sh
# Run every libFuzzer target of a fuzz build for a bounded time, or until
# it has run RUNS inputs (whichever comes first).
#   tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [RUNS]
#   FUZZ_TARGETS="kdl store" tests/fuzz/run.sh ...   only these targets
# Each target starts from its seed corpus tests/fuzz/corpus/<name>/ (which
# also holds the inputs of past crashes, so they are replayed every run) and
# keeps what it finds in BUILD_DIR/fuzz-corpus/<name>/. A crash leaves its
# input in BUILD_DIR/fuzz-crashes/ and fails the run: add that file to the
# seed corpus (and a unit test) once fixed.
set -eu
build=$1
secs=$2
runs=${3:--1}  # -1: no limit
src=$(cd "$(dirname "$0")" && pwd)
status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$build/fuzz-crashes"
for c in "$src"/fuzz_*.c; do
	name=$(basename "$c" .c)
	name=${name#fuzz_}
	case " ${FUZZ_TARGETS:-$name} " in *" $name "*) ;; *) continue ;; esac
	bin="$build/tests/fuzz/fuzz_$name"
	if [ ! -x "$bin" ]; then
		echo "fuzz: $bin not built" >&2
		status=1
		continue
	fi
	mkdir -p "$build/fuzz-corpus/$name" "$src/corpus/$name"
	dict=
	[ -f "$src/$name.dict" ] && dict="-dict=$src/$name.dict"
	echo "fuzz: $name for ${secs}s"
	if ! "$bin" -max_total_time="$secs" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-print_final_stats=1 $dict \
		-artifact_prefix="$build/fuzz-crashes/$name-" \
		"$build/fuzz-corpus/$name" "$src/corpus/$name" \
		>"$build/fuzz-$name.log" 2>&1; then
		tail -n 60 "$build/fuzz-$name.log" >&2
		echo "fuzz: $name FAILED (input saved in $build/fuzz-crashes/)" >&2
		status=1
	else
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build/fuzz-$name.log" |
			sed "s/^/fuzz: $name /"
	fi
done
exit $status
