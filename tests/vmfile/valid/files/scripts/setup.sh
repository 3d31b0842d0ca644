#!/bin/sh
set -eu
echo setting up
