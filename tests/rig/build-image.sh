#!/usr/bin/env bash
# Build (once) the rig's node image: a Debian root filesystem that boots systemd and looks like a
# fresh server install: an admin user with sudo (password required), sshd accepting passwords,
# no authorized keys, a neutral hostname, no cluster names in /etc/hosts.
# Usage: build-image.sh SUITE   (bookworm = Debian 12, trixie = Debian 13); prints the image tag.
# The tag carries a hash of this recipe, so a changed recipe rebuilds and an unchanged one is reused.
set -euo pipefail
suite=${1:-bookworm}
admin=${RIG_ADMIN_USER:-labadmin}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$( (cat "$0" "$here/data/fake-nvml.c"; echo "$suite $admin") | sha256sum | cut -c1-12)
tag="gpucluster-node:${suite}-${recipe}"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi

mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -E '^(URIs:|deb )' \
         | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 || true)
mirror=${RIG_MIRROR:-${mirror:-http://deb.debian.org/debian}}
root=$(mktemp -d /var/tmp/rig-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,python3,sudo,iproute2,iputils-ping,ca-certificates,procps \
  "$suite" "$root" "$mirror" >&2

in_root() { chroot "$root" /bin/sh -ec "$1"; }
# This machine reaches PyPI through a TLS-inspecting proxy; the nodes trust the same authorities as
# it does (real nodes reach PyPI directly), so pip on a node works as it would there.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/build-machine.crt"
  in_root "update-ca-certificates >/dev/null 2>&1"
fi
# The admin user as an installer leaves it: a password (set when the rig starts), sudo with password.
in_root "useradd -m -s /bin/bash -G sudo $admin && passwd -l $admin >/dev/null"
# Ubuntu's installer leaves this drop-in when password login is chosen; the deploy must override it.
echo 'PasswordAuthentication yes' > "$root/etc/ssh/sshd_config.d/50-cloud-init.conf"
rm -f "$root"/etc/ssh/ssh_host_*            # each node makes its own host keys at first boot
: > "$root/etc/machine-id"
install -m 0755 "$here/rig-boot.sh" "$root/usr/local/sbin/rig-boot"
# No GPU and no driver here: a stand-in NVML answering for the stand-in /dev/nvidiaN (data/fake-nvml.c).
gcc -shared -fPIC -O2 -o "$root/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1" "$here/data/fake-nvml.c"
in_root "ldconfig"
cat > "$root/etc/systemd/system/rig-boot.service" <<'UNIT'
[Unit]
Description=Make this container look like a freshly installed server
DefaultDependencies=no
Before=ssh.service systemd-hostnamed.service sysinit.target
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rig-boot
RemainAfterExit=yes
[Install]
WantedBy=sysinit.target
UNIT
in_root "systemctl enable rig-boot.service ssh.service >/dev/null 2>&1
  systemctl mask systemd-modules-load.service getty@tty1.service console-getty.service \
    systemd-udevd.service systemd-udev-trigger.service >/dev/null 2>&1 || true
  apt-get clean"
rm -rf "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import --change 'CMD ["/sbin/init"]' - "$tag" >&2
echo "$tag"
