#!/usr/bin/env bash
# What `make demo` and `make test` need on the machine they run on, installed when missing: a running
# Docker engine, docker-compose, debootstrap, ssh-keygen, gcc and the browser the web view test drives.
# Where it cannot install (not root, no apt-get) it stops with one line naming what to run instead.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v gcc >/dev/null || need+=(gcc)  # builds the rig's stand-in NVML into the node image
command -v chromium >/dev/null || need+=(chromium)  # the web view test's headless browser
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing ${need[*]}: run 'sudo apt-get install ${need[*]}' (Debian or Ubuntu), then again" >&2
    exit 1
  fi
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "the Docker engine is not running: run 'sudo systemctl start docker' (or 'sudo dockerd &'), then again" >&2
    exit 1
  fi
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else  # no systemd here (a container, a CI machine): the engine in the background
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "the Docker engine did not start: see /var/log/dockerd.log" >&2; exit 1; }
fi
docker info --format 'Docker engine {{.ServerVersion}} ({{.Driver}})'
