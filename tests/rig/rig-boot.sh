#!/bin/sh
# Runs at every boot of a rig node. Docker bind-mounts /etc/hosts and /etc/hostname, which the
# deploy must own like on a real machine, so they are unmounted; the first boot writes them as an
# Ubuntu installer would (own name on 127.0.1.1), later boots keep what the deploy wrote.
set -e
name=$(hostname)
umount /etc/hosts 2>/dev/null || true
umount /etc/hostname 2>/dev/null || true
if [ ! -e /var/lib/rig-boot.done ]; then
  echo "$name" > /etc/hostname
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n\n::1 ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n' "$name" > /etc/hosts
  touch /var/lib/rig-boot.done
fi
hostname -F /etc/hostname
ssh-keygen -A >/dev/null
