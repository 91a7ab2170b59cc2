#!/usr/bin/env bash
# Installs what building and testing Sluice needs on a Debian machine, and
# nothing that is already there. Safe to run on every `make` invocation: when
# everything is present it only checks and returns.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

have gcc        || need_apt+=(gcc)
have pkg-config || need_apt+=(pkg-config)
# libvips backs on-demand image resizing (the vips package, cgo).
pkg-config --exists vips 2>/dev/null || need_apt+=(libvips-dev)
# ffmpeg makes the thumbnails of examples/video-upload (and its test).
have ffmpeg     || need_apt+=(ffmpeg)
have python3    || need_apt+=(python3)
have aws        || need_apt+=(awscli)
if have python3; then
  python3 -c 'import boto3' 2>/dev/null    || need_apt+=(python3-boto3)
  python3 -c 'import requests' 2>/dev/null || need_apt+=(python3-requests)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then SUDO="sudo"; else
      echo "setup: need root (or sudo) to install: ${need_apt[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if ! have go; then
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl/); it is not on PATH" >&2
  exit 1
fi

# Modules come through the configured Go module proxy.
go mod download
