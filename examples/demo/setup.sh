#!/bin/sh
# Uploaded to /tmp/vmctl-provision-3.sh, made executable and run by vmctl.
set -e
echo "running as $(id -un) in $(pwd)"
sudo -n sh -c 'echo "provisioned by vmctl" > /etc/vmctl-demo'
echo "wrote /etc/vmctl-demo"
