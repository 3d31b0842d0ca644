#!/bin/sh
# Build the small test guest (see README.md) from Debian packages, without
# mounting anything and without installing anything on the host.
#
#   tests/guest/build.sh [--force]
#
# Prints the path of the cached qcow2 image on stdout (progress goes to
# stderr). The image is cached under ${VMCTL_TEST_CACHE:-$HOME/.cache/vmctl-test}
# as guest-<hash>.qcow2, where <hash> covers this directory's files and the
# exact versions of the Debian packages used: a rebuild happens only when one
# of them changes (or with --force).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${VMCTL_TEST_CACHE:-${HOME:-/root}/.cache/vmctl-test}
force=0
[ "${1:-}" = "--force" ] && force=1

log() { printf 'guest-build: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get apt-cache dpkg depmod modprobe cpio gzip mkfs.fat syslinux \
            mcopy sfdisk qemu-img sha256sum readelf cc; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool not found (install the test-guest packages listed in tools/deps.txt)"
done
[ -r /usr/lib/syslinux/mbr/mbr.bin ] || die "/usr/lib/syslinux/mbr/mbr.bin missing (install syslinux-common)"

# Resolve the exact package set: the kernel behind the linux-image-amd64
# metapackage, busybox-static, dropbear and the SFTP server, plus the shared
# libraries dropbear and sftp-server need.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 (run apt-get update)"
pkgs="$kpkg busybox-static dropbear-bin openssh-sftp-server libc6 libcrypt1 libtomcrypt1 libtommath1 libgmp10 zlib1g"

# One apt-cache call for all candidate versions (each call costs ~1 s).
versions=$(apt-cache policy $pkgs 2>/dev/null |
           awk '/^[^ ]/ { sub(/:$/, "", $1); p = $1 } /^ *Candidate:/ { print p "=" $2 }')
for p in $pkgs; do
    v=$(printf '%s\n' "$versions" | sed -n "s/^$p=//p")
    [ -n "$v" ] && [ "$v" != "(none)" ] ||
        die "package $p has no candidate version (run apt-get update)"
done

hash=$( { printf '%s\n' "$versions"; cd "$here" && find . -type f ! -name '*~' ! -name '*.md' | LC_ALL=C sort |
          while read -r f; do printf '%s\n' "$f"; cat "$f"; done; } | sha256sum | cut -c1-16)
out="$cache/guest-$hash.qcow2"

mkdir -p "$cache"
exec 9>"$cache/.guest-build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

if [ -s "$out" ] && [ "$force" = 0 ]; then
    log "cached: $out"
    printf '%s\n' "$out"
    exit 0
fi

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/vmctl-guest-build.XXXXXX")
trap 'rm -rf "$work" "$out.tmp"' EXIT INT TERM
chmod 755 "$work"

# --- fetch and unpack (apt-get download as root needs a dir _apt can write)
mkdir -p "$work/debs" "$work/pkg"
chmod 777 "$work/debs"
log "downloading: $(echo $pkgs)"
pkgspecs=$(printf '%s\n' "$versions" | tr '\n' ' ')
# shellcheck disable=SC2086
(cd "$work/debs" && apt-get download -q $pkgspecs >&2) || die "apt-get download failed"
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/pkg"; done
kver=$(ls "$work/pkg/lib/modules")
[ -n "$kver" ] && [ -f "$work/pkg/boot/vmlinuz-$kver" ] || die "kernel not found in $kpkg"

# --- initramfs tree
root="$work/root"
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin usr/lib lib64 lib/x86_64-linux-gnu etc/dropbear \
         etc/acpi/PWRF dev proc sys tmp run var/log root home mnt/cidata \
         usr/share/udhcpc; do
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

cp "$work/pkg/bin/busybox" "$root/bin/busybox"
"$root/bin/busybox" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp "$work/pkg/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
cp "$work/pkg/usr/bin/dropbearkey" "$work/pkg/usr/bin/dropbearconvert" "$root/usr/bin/"
cp "$work/pkg/usr/lib/openssh/sftp-server" "$root/usr/lib/sftp-server"
# a UDP echo server for the port-forward tests (busybox's nc has no UDP)
cc -static -Os -s -Wl,--build-id=none -o "$root/bin/udp-echo" "$here/udp-echo.c"
mkdir -p "$root/usr/lib/openssh"
ln -s ../sftp-server "$root/usr/lib/openssh/sftp-server"

# Shared libraries: follow DT_NEEDED from the dynamic binaries.
libdir=lib/x86_64-linux-gnu
cp "$work/pkg/$libdir/ld-linux-x86-64.so.2" "$root/$libdir/"
ln -s "/$libdir/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
todo="$root/usr/sbin/dropbear $root/usr/bin/dropbearkey $root/usr/bin/dropbearconvert $root/usr/lib/sftp-server"
while [ -n "$todo" ]; do
    next=""
    for f in $todo; do
        for lib in $(LC_ALL=C readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            [ -e "$root/$libdir/$lib" ] && continue
            src=""
            for cand in "$work/pkg/$libdir/$lib" "$work/pkg/usr/$libdir/$lib"; do
                [ -e "$cand" ] && { src=$cand; break; }
            done
            [ -n "$src" ] || die "library $lib (needed by ${f#"$root"}) not in the package set"
            cp -L "$src" "$root/$libdir/$lib"
            next="$next $root/$libdir/$lib"
        done
    done
    todo=$next
done

# Kernel modules, in the order modprobe resolves their dependencies.
depmod -b "$work/pkg" "$kver"
modules="virtio_pci virtio_blk virtio_net virtio_scsi virtio_rng virtio_console ahci ata_piix
         sd_mod sr_mod isofs vfat nls_cp437 nls_ascii nls_utf8 button evdev
         virtiofs 9p 9pnet_virtio"
for m in $modules; do
    modprobe -d "$work/pkg" -S "$kver" --show-depends "$m" || die "module $m not found in $kpkg"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
    rel=${ko#"$work/pkg"}
    mkdir -p "$root/$(dirname "$rel")"
    cp "$ko" "$root/$rel"
    printf '%s\n' "$rel" >>"$root/etc/modules.order"
done
[ -s "$root/etc/modules.order" ] || die "no kernel modules selected"

cp "$here/init" "$root/init"
cp "$here/cloud-config.awk" "$root/etc/cloud-config.awk"
cp "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
cp "$here/sudo" "$root/usr/bin/sudo"
chmod 755 "$root/init" "$root/usr/share/udhcpc/default.script" "$root/usr/bin/sudo"
cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "vmctl-guest: ACPI power button: powering off" >/dev/console
sync
poweroff -f
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"
# su must keep root (it is the sudo backend); busybox drops privileges for
# every other applet.
cp "$root/bin/busybox" "$root/bin/busybox-suid"
chmod 4755 "$root/bin/busybox-suid"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root::1:0:99999:7:::\nnobody:*:1:0:99999:7:::\n' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf 'root:x:0:\nsudo:x:27:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
printf 'guest\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
cat >"$root/etc/inittab" <<'EOF'
::sysinit:/init setup
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
EOF
cat >"$root/etc/profile" <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PS1='\u@\h:\w\$ '
EOF
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || die "mknod /dev/console failed (needs root)"
mknod -m 666 "$root/dev/null" c 1 3

# Reproducible archive: fixed mtimes, sorted names, owner 0:0, gzip -n.
find "$root" -exec touch -h -d @946684800 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
    cpio -o -H newc --owner 0:0 --reproducible --quiet) | gzip -9 -n >"$work/initrd.gz"

# --- bootable disk: MBR + one FAT16 partition at 1 MiB with syslinux
cat >"$work/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0,115200 quiet rdinit=/init
EOF
cp "$work/pkg/boot/vmlinuz-$kver" "$work/vmlinuz"
touch -d @946684800 "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg"
kb=$(du -k "$work/vmlinuz" "$work/initrd.gz" | awk '{ s += $1 } END { print s }')
part_mb=$(( (kb / 1024) + 8 ))
[ "$part_mb" -ge 20 ] || part_mb=20
mkfs.fat --invariant -F 16 -h 2048 -i 766d6374 -n VMCTLGUEST -C "$work/part.img" $((part_mb * 1024)) >/dev/null
# fixed times in the FAT directory (mkfs --invariant, mtools/syslinux
# honour SOURCE_DATE_EPOCH)
export SOURCE_DATE_EPOCH=946684800
syslinux --install "$work/part.img"
MTOOLS_SKIP_CHECK=1 mcopy -m -i "$work/part.img" "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.gz" ::/
disk_mb=$((part_mb + 1))
truncate -s "${disk_mb}M" "$work/disk.raw"
printf 'label: dos\nlabel-id: 0x766d6374\nunit: sectors\nstart=2048, type=6, bootable\n' |
    sfdisk -q "$work/disk.raw" >/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/part.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc status=none
qemu-img convert -O qcow2 "$work/disk.raw" "$work/guest.qcow2"

cp "$work/guest.qcow2" "$out.tmp"
mv -f "$out.tmp" "$out"
log "built $out ($(du -k "$out" | cut -f1) KiB, kernel $kver, $(wc -l <"$root/etc/modules.order") modules) in $(( $(date +%s) - start )) s"
printf '%s\n' "$out"
