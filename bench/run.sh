#!/usr/bin/env bash
# Runs the benchmarks against peer servers. See bench/README.md.
#
#   bash bench/run.sh                 every bench (S3, Lambda, events)
#   bash bench/run.sh s3 [ARGS]       S3: sluice vs versitygw; ARGS go to s3bench
#   bash bench/run.sh lambda [ARGS]   Lambda: sluice vs AWS's runtime interface
#                                     emulator; ARGS go to lambdabench
#   bash bench/run.sh events [ARGS]   event delivery: PUT -> webhook, PUT ->
#                                     TargetBucket copy; ARGS go to eventsbench
#   bash bench/run.sh edge [ARGS]     the edge: cache hits vs nginx, resizing
#                                     vs sharp, overwrite -> fresh; ARGS go to
#                                     edgebench
#   bash bench/run.sh templates [ARGS] serve -t to the first resized image;
#                                     HTTP API echo route; ARGS go to
#                                     templatebench
#   bash bench/run.sh all             all five, default arguments
#   bash bench/run.sh ARGS            (no mode word) the S3 bench with ARGS, as
#                                     before the Lambda bench existed
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.bench/bin
versitygw_version=v1.8.0
rie_src=$root/.bench/src/aws-lambda-runtime-interface-emulator
mkdir -p "$bin"

log() { printf '%s run.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mode=
case ${1:-} in
s3 | lambda | events | edge | templates | all)
	mode=$1
	shift
	;;
esac
if [[ -z $mode ]]; then
	if [[ $# -gt 0 ]]; then mode=s3; else mode=all; fi
fi
if [[ $mode == all && $# -gt 0 ]]; then
	echo "run.sh: arguments go to one bench: use 'run.sh s3 ARGS', 'run.sh lambda ARGS', 'run.sh events ARGS', 'run.sh edge ARGS' or 'run.sh templates ARGS'" >&2
	exit 2
fi

sluice_rev() {
	local rev
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git status --porcelain -- . ':!bench' ':!*_test.go' 2>/dev/null) ]]; then
		rev="$rev+dirty"
	fi
	echo "$rev"
}

built_sluice=
build_sluice() {
	if [[ -z $built_sluice ]]; then
		log "building sluice (./cmd/sluice)"
		go build -o "$bin/sluice" ./cmd/sluice
		built_sluice=1
	fi
}

run_s3() {
	local servers=versitygw,sluice,sluice-nofsync arg
	for arg in "$@"; do
		case $arg in
		-servers=* | --servers=*) servers=${arg#*=} ;;
		esac
	done

	local sluice_args=()
	if [[ $servers == *sluice* ]]; then
		build_sluice
		sluice_args=(-sluice-bin "$bin/sluice" -sluice-rev "git $(sluice_rev)")
	fi

	local versity_args=()
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
	log "running the S3 benchmark (about 2 minutes with the default grid)"
	"$bin/s3bench" "${sluice_args[@]}" "${versity_args[@]}" -workdir "$root/.bench/run" -out "$root/bench/results/s3-latest.md" "$@"
}

run_lambda() {
	build_sluice
	log "building the echo function (bench/lambdabench/echo) into .bench/lambda/echo/bootstrap"
	mkdir -p "$root/.bench/lambda/echo"
	go build -o "$root/.bench/lambda/echo/bootstrap" ./bench/lambdabench/echo

	# The emulator is built from its public source, which is never part of
	# this repository: it must already be checked out under .bench/src.
	local rie_args=()
	if [[ -f $rie_src/go.mod ]]; then
		local rie_rev
		rie_rev=$(git -C "$rie_src" rev-parse --short HEAD 2>/dev/null || echo unknown)
		log "building aws-lambda-rie from $rie_src (git $rie_rev)"
		local out
		if out=$(cd "$rie_src" && GOWORK=off go build -o "$bin/aws-lambda-rie" ./cmd/aws-lambda-rie 2>&1); then
			rie_args=(-rie-bin "$bin/aws-lambda-rie" -rie-rev "git $rie_rev")
		else
			printf '%s\n' "$out" >&2
			log "building aws-lambda-rie failed (a module the Go proxy would not serve?); measuring sluice only"
			rie_args=(-rie-bin "" -rie-note "building aws-lambda-rie (git $rie_rev) failed: $(printf '%s' "$out" | tail -n 1)")
		fi
	else
		log "no emulator source in $rie_src: measuring sluice only. To compare with the emulator, first run"
		log "  git clone https://github.com/aws/aws-lambda-runtime-interface-emulator $rie_src"
		rie_args=(-rie-bin "" -rie-note "its source was not checked out under .bench/src (see bench/README.md)")
	fi

	log "building lambdabench"
	go build -o "$bin/lambdabench" ./bench/lambdabench
	mkdir -p "$root/.bench/run-lambda"
	log "running the Lambda benchmark (about 2 minutes with the defaults)"
	"$bin/lambdabench" -sluice-bin "$bin/sluice" -sluice-rev "git $(sluice_rev)" -echo-bin "$root/.bench/lambda/echo/bootstrap" \
		"${rie_args[@]}" -workdir "$root/.bench/run-lambda" -out "$root/bench/results/lambda-latest.md" "$@"
}

run_events() {
	build_sluice
	log "building eventsbench"
	go build -o "$bin/eventsbench" ./bench/eventsbench
	mkdir -p "$root/.bench/run-events"
	log "running the events benchmark (about 2 minutes with the defaults)"
	"$bin/eventsbench" -sluice-bin "$bin/sluice" -sluice-rev "git $(sluice_rev)" -workdir "$root/.bench/run-events" \
		-out "$root/bench/results/events-latest.md" "$@"
}

# The resize phase's photos: real photographs from a Debian package
# (Ubuntu 16.04's wallpaper contest), downscaled to 1, 2, 4 and 8 MP by
# bench/edgebench/prepare-photos.js; synthetic photo-like images stand in
# for any class the package cannot fill (the report says so).
photos_pkg=lomiri-wallpapers-16.04
prepare_photos() {
	local photos=$root/.bench/photos src=$root/.bench/photos-src
	if [[ -f $photos/manifest.json ]]; then
		return
	fi
	mkdir -p "$src/debs"
	if ! compgen -G "$src/debs/${photos_pkg}_*.deb" >/dev/null; then
		log "downloading the Debian package $photos_pkg (16 MB of photographs) into $src/debs"
		(cd "$src/debs" && apt-get download "$photos_pkg" >&2) ||
			log "apt-get download $photos_pkg failed: synthetic photo-like images will be used instead"
	fi
	rm -rf "$src/pkg"
	local deb
	for deb in "$src/debs/${photos_pkg}"_*.deb; do
		[[ -f $deb ]] && dpkg -x "$deb" "$src/pkg"
	done
	log "preparing 1, 2, 4 and 8 MP JPEGs in $photos"
	rm -rf "$photos"
	NODE_PATH=$root/.bench/sharp/node_modules node bench/edgebench/prepare-photos.js --src "$src/pkg" --out "$photos" >&2
}

run_edge() {
	build_sluice
	if [[ ! -x /usr/sbin/nginx ]]; then
		echo "run.sh: the edge bench compares with nginx: install it first (apt-get install -y nginx-light)" >&2
		exit 1
	fi
	if [[ ! -f $root/.bench/sharp/node_modules/sharp/package.json ]]; then
		log "installing sharp 0.34 into .bench/sharp (npm, first time only)"
		mkdir -p "$root/.bench/sharp"
		(cd "$root/.bench/sharp" && npm install --no-audit --no-fund --loglevel=error sharp@0.34 >&2)
	fi
	prepare_photos
	log "building edgebench"
	go build -o "$bin/edgebench" ./bench/edgebench
	mkdir -p "$root/.bench/run-edge"
	log "running the edge benchmark (about 2 minutes with the defaults)"
	"$bin/edgebench" -sluice-bin "$bin/sluice" -sluice-rev "git $(sluice_rev)" -nginx-bin /usr/sbin/nginx \
		-sharp-dir "$root/.bench/sharp" -sharp-server "$root/bench/edgebench/sharp-server.js" -photos "$root/.bench/photos" \
		-workdir "$root/.bench/run-edge" -out "$root/bench/results/edge-latest.md" "$@"
}

run_templates() {
	build_sluice
	log "building the echo function (bench/lambdabench/echo) into .bench/lambda/echo/bootstrap"
	mkdir -p "$root/.bench/lambda/echo"
	go build -o "$root/.bench/lambda/echo/bootstrap" ./bench/lambdabench/echo
	log "building templatebench"
	go build -o "$bin/templatebench" ./bench/templatebench
	log "running the templates benchmark (start-up to first resized image; HTTP API echo route)"
	"$bin/templatebench" -sluice-bin "$bin/sluice" -sluice-rev "git $(sluice_rev)" -echo-dir "$root/.bench/lambda/echo" \
		-template "$root/examples/image-resize/template.yaml" -photo "$root/examples/image-resize/photo.jpg" \
		-workdir "$root/.bench/run-templates" -out "$root/bench/results/templates-latest.md" "$@"
}

case $mode in
s3) run_s3 "$@" ;;
lambda) run_lambda "$@" ;;
events) run_events "$@" ;;
edge) run_edge "$@" ;;
templates) run_templates "$@" ;;
all)
	run_s3
	run_lambda
	run_events
	run_edge
	run_templates
	;;
esac
