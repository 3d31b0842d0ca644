/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/netdiscover.h - finding a bridged guest's IP address
 * by its MAC (private to libvmm): the host's neighbour table, then DHCP
 * lease files (dnsmasq's, libvirt's, and those named in $VMCTL_LEASES).
 * The parsers are pure and unit-tested in tests/unit/test_netdiscover.c.
 */
#ifndef VMMI_NETDISCOVER_H
#define VMMI_NETDISCOVER_H

#include <time.h>

#include "vmm/error.h"

/* The lease files looked at after $VMCTL_LEASES (shell patterns). */
#define VMMI_LEASE_PLACES                                                            \
	{"/var/lib/misc/dnsmasq.leases", "/var/lib/dnsmasq/*.leases",                  \
	 "/var/lib/libvirt/dnsmasq/*.status"}

/*
 * The address of the neighbour with this MAC (case-insensitive) in the
 * output of `ip -j neigh show` (a JSON array of {"dst", "lladdr",
 * "state"}): an IPv4 address if there is one, else a non-link-local IPv6
 * one. Entries in state FAILED or INCOMPLETE do not count. NULL if none
 * (or the text is not such an array, or out of memory).
 */
char *vmmi_neigh_find(const char *json_text, const char *mac);

/*
 * The address leased to mac in a lease file's text: dnsmasq's format
 * ("EXPIRY MAC IP HOSTNAME CLIENT-ID" a line; EXPIRY 0 never expires) or
 * libvirt's JSON status file (an array of {"ip-address", "mac-address",
 * "expiry-time"}). Leases that expired before now are skipped; of several,
 * the one that expires last wins. NULL if none.
 */
char *vmmi_leases_find(const char *text, const char *mac, time_t now);

/*
 * One look for mac: the neighbour table (`ip -j neigh show`), then
 * $VMCTL_LEASES (files separated by ':'), then VMMI_LEASE_PLACES.
 * 0 with *ip set; 1 (not found) with *searched, malloc'd, naming every
 * place looked at and what was there; <0 out of memory.
 */
int vmmi_guest_ip_discover(const char *mac, char **ip, char **searched, struct vmm_error *err);

#endif
