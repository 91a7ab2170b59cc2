#!/usr/bin/env bash
# Builds sluice, installs versitygw if missing, and runs the S3 benchmark
# against both. Extra arguments go to s3bench (e.g. -servers=versitygw,
# -duration=2s, -perf=.bench/perf). See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.bench/bin
versitygw_version=v1.8.0
mkdir -p "$bin"

log() { printf '%s run.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

servers=versitygw,sluice,sluice-nofsync
for arg in "$@"; do
	case $arg in
	-servers=* | --servers=*) servers=${arg#*=} ;;
	esac
done

sluice_args=()
if [[ $servers == *sluice* ]]; then
	log "building sluice (./cmd/sluice)"
	go build -o "$bin/sluice" ./cmd/sluice
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git status --porcelain -- . ':!bench' ':!*_test.go' 2>/dev/null) ]]; then
		rev="$rev+dirty"
	fi
	sluice_args=(-sluice-bin "$bin/sluice" -sluice-rev "git $rev")
fi

versity_args=()
if [[ $servers == *versitygw* ]]; then
	# `go install` stamps no version into the binary, so a marker file
	# records which version is installed.
	if [[ ! -x $bin/versitygw || $(cat "$bin/versitygw.version" 2>/dev/null) != "$versitygw_version" ]]; then
		log "installing versitygw $versitygw_version into $bin (first time only; compiles a large module, a few minutes on 2 cores)"
		GOBIN=$bin go install -v "github.com/versity/versitygw/cmd/versitygw@$versitygw_version" 2>&1 |
			awk '{ n++; if (n % 25 == 0) { printf "  ... %d packages built (%s)\n", n, $0; fflush() } }' >&2
		echo "$versitygw_version" >"$bin/versitygw.version"
		log "versitygw installed"
	fi
	versity_args=(-versitygw-bin "$bin/versitygw" -versitygw-rev "$versitygw_version")
fi

log "building s3bench"
go build -o "$bin/s3bench" ./bench/s3bench
mkdir -p "$root/.bench/run"
log "running the benchmark (about 2 minutes with the default grid)"
exec "$bin/s3bench" "${sluice_args[@]}" "${versity_args[@]}" -workdir "$root/.bench/run" -out "$root/bench/results/s3-latest.md" "$@"
