/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/propolis/propolis.h - the Propolis backend's parts (private):
 * the HTTP client of propolis-server's API (http.c), the illumos commands
 * it drives (zone.c), the per-VM record in the work directory and the pure
 * pieces the unit tests reach (the ensure body, the state mapping).
 */
#ifndef VMMI_BACKENDS_PROPOLIS_H
#define VMMI_BACKENDS_PROPOLIS_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/error.h"
#include "vmm/vm.h"

/* The propolis-server API version this backend speaks: every request
 * carries it in the api-version header. */
#define VMMI_PROPOLIS_API_VERSION "5.0.0"
#define VMMI_PROPOLIS_DEFAULT_URL "http://127.0.0.1:12400"
#define VMMI_PROPOLIS_DEFAULT_POOL "rpool"
/* Seconds to wait for the server to answer and the instance to run. */
#define VMMI_PROPOLIS_DEFAULT_TIMEOUT_S 30
/* The backend's record of a VM, in its work directory. */
#define VMMI_PROPOLIS_RECORD "propolis.json"
#define VMMI_PROPOLIS_SEED "seed.iso"
#define VMMI_PROPOLIS_CONSOLE_LOG "console.log"

/* What the backend allocated for a VM, recorded in VMMI_PROPOLIS_RECORD. */
struct vmmi_propolis_vm {
	char *url;           /* propolis-server's base URL, no trailing '/' */
	char *zone;          /* the zone's name (the VM's) */
	char *pool;          /* the ZFS pool */
	char *image_dataset; /* {pool}/vmctl/images/KEY; its snapshot @base */
	char *dataset;       /* {pool}/vms/NAME, the clone */
	char *zvol;          /* the clone's raw device */
};
void vmmi_propolis_vm_release(struct vmmi_propolis_vm *p);
int vmmi_propolis_vm_load(const struct vmm_vm *vm, struct vmmi_propolis_vm *p,
			  struct vmm_error *err);
int vmmi_propolis_vm_save(const struct vmm_vm *vm, const struct vmmi_propolis_vm *p,
			  struct vmm_error *err);

/* ---- http.c ------------------------------------------------------------- */

struct vmmi_http_reply {
	long status;     /* 0: no answer */
	bool timed_out;  /* the server accepted but did not answer in time */
	char *body;      /* NUL-terminated */
	size_t len;
};
void vmmi_http_reply_release(struct vmmi_http_reply *r);

/*
 * One request to propolis-server: method and path below base_url, an
 * optional JSON body (a GET may carry one: state-monitor). A server that
 * cannot be reached is VMM_E_PROPOLIS_UNREACHABLE; a request that was not
 * answered within timeout_ms returns 0 with r->timed_out. Any answer
 * returns 0 with its status in r.
 */
int vmmi_http_request(const char *base_url, const char *method, const char *path,
		      const char *body, unsigned timeout_ms, struct vmmi_http_reply *r,
		      struct vmm_error *err);

/* The error for an answer that is not `want`: the server's status,
 * error_code and message, with a hint (version mismatch, no instance). */
int vmmi_http_error(const char *method, const char *path, const struct vmmi_http_reply *r,
		    struct vmm_error *err);

/* The server's error_code in an Error body (malloc'd), or NULL. */
char *vmmi_http_error_code(const struct vmmi_http_reply *r);

/* ---- zone.c ------------------------------------------------------------- */

/*
 * Run an illumos command (argv[0] on PATH). Exit 0 returns 0 with its
 * stdout in *out (may be NULL); anything else is an error naming the
 * command line, its exit status and stderr, with hint (NULL: a generic
 * one). A command that is not installed is VMM_E_BACKEND.
 */
int vmmi_zone_run(char *const argv[], char **out, const char *hint, struct vmm_error *err);
/* Run it and report only whether it exited 0 (true), without an error;
 * false too when it cannot be run. */
bool vmmi_zone_ok(char *const argv[], char **out);
/* The zone's state from `zoneadm -z NAME list -p` ("running",
 * "installed", ...; malloc'd), or NULL if there is no such zone or
 * zoneadm cannot be run (*missing true when zoneadm is not installed). */
char *vmmi_zone_state(const char *zone, bool *missing);

/* ---- the pure parts (propolis_state.c, propolis.c) ---------------------- */

/* propolis-server's InstanceState onto vmctl's states. */
enum vmm_vm_state vmmi_propolis_map_state(const char *instance_state);

/* vm->id (32 hex digits) as a UUID: 8-4-4-4-12; out holds 37 bytes. */
void vmmi_propolis_uuid(const char *id, char out[37]);

/*
 * The InstanceEnsureRequest (API 5.0.0) for vm: its properties (the id as
 * a UUID), the board (vcpus, memory), the root disk on zvol, the seed
 * (base64; NULL: none) as a read-only blob disk, the VNIC's NIC (vnic
 * NULL: none), com1 and the boot order. A new JSON text (malloc'd).
 */
char *vmmi_propolis_ensure_body(const struct vmm_vm *vm, const char *zvol,
				const char *seed_b64, const char *vnic);

#endif
