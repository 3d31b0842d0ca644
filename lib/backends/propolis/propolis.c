/* SPDX-License-Identifier: MIT */
/*
 * The Propolis backend (illumos): each VM is a zone of the nebula-vm
 * brand running its own propolis-server (bhyve), its disk a ZFS clone of
 * the base image's volume, its network a VNIC.
 *
 * prepare: the base image becomes {pool}/vmctl/images/KEY once (a volume
 * written with qemu-img, snapshot @base), the VM a clone {pool}/vms/NAME
 * of it grown to its disk size, the NoCloud seed as for QEMU, the zone
 * configured (zonecfg) and installed (zoneadm). start: the zone booted,
 * the server awaited (GET /instance; 424 NoInstance is "up, empty"), the
 * instance ensured (PUT /instance, API 5.0.0) and run (PUT /instance/state),
 * its state followed through state-monitor generations. stop: "Stop",
 * awaited, the console history kept, the zone halted. destroy: stopped,
 * the zone uninstalled and deleted, the clone destroyed.
 *
 * No illumos machine tests it: the tests run it against a double of
 * propolis-server written from its OpenAPI document and fake zfs, zonecfg,
 * zoneadm, zlogin and dladm (tests/propolis/).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "backends/backend.h"
#include "backends/propolis/propolis.h"
#include "backends/qemu/qemu.h"
#include "core/util.h"
#include "vmm/image.h"
#include "vmm/log.h"

#define MOD "propolis"
#define POLL_MS 250
#define HISTORY_BYTES 65536

static const char *env_or(const char *name, const char *def)
{
	const char *s = getenv(name);

	return s && *s ? s : def;
}

static unsigned timeout_s(void)
{
	const char *s = getenv("VMCTL_PROPOLIS_TIMEOUT");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return VMMI_PROPOLIS_DEFAULT_TIMEOUT_S;
	v = strtoul(s, &end, 10);
	return *end || v == 0 || v > 3600 ? VMMI_PROPOLIS_DEFAULT_TIMEOUT_S : (unsigned)v;
}

/* Run a command given as arguments, NULL-terminated. */
static int run(char **out, const char *hint, struct vmm_error *err, const char *arg0, ...)
{
	char *argv[32];
	size_t n = 0;
	va_list ap;

	argv[n++] = (char *)arg0;
	va_start(ap, arg0);
	while (n < sizeof(argv) / sizeof(*argv) - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return vmmi_zone_run(argv, out, hint, err);
}

static bool dataset_exists(const char *name)
{
	char *argv[] = {"zfs", "list", "-H", "-o", "name", (char *)name, NULL};

	return vmmi_zone_ok(argv, NULL);
}

/* The image's dataset name: its file name, in the characters ZFS allows. */
static char *image_key(const char *image_path)
{
	const char *base = strrchr(image_path, '/');
	char *k = strdup(base ? base + 1 : image_path);

	for (char *p = k; p && *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-",
			    *p))
			*p = '_';
	return k;
}

/* ---- the ensure body ---------------------------------------------------- */

static json_t *pci(int device)
{
	return json_pack("{s:i, s:i, s:i}", "bus", 0, "device", device, "function", 0);
}

static void component(json_t *comps, const char *key, const char *type, json_t *c)
{
	json_object_set_new(comps, key, json_pack("{s:s, s:o}", "type", type, "component", c));
}

char *vmmi_propolis_ensure_body(const struct vmm_vm *vm, const char *zvol,
				const char *seed_b64, const char *vnic)
{
	static const char nil[] = "00000000-0000-0000-0000-000000000000";
	char uuid[37], *text;
	json_t *comps = json_object(), *body;
	json_t *order = json_pack("[{s:s}]", "id", "disk0");

	vmmi_propolis_uuid(vm->id, uuid);
	component(comps, "disk0", "virtio_disk",
		  json_pack("{s:s, s:o}", "backend_id", "disk0-backend", "pci_path", pci(4)));
	component(comps, "disk0-backend", "file_storage_backend",
		  json_pack("{s:s, s:b, s:i}", "path", zvol, "readonly", 0, "block_size", 512));
	if (seed_b64) {
		component(comps, "cloud-init", "virtio_disk",
			  json_pack("{s:s, s:o}", "backend_id", "cloud-init-backend", "pci_path",
				    pci(24)));
		component(comps, "cloud-init-backend", "blob_storage_backend",
			  json_pack("{s:s, s:b}", "base64", seed_b64, "readonly", 1));
	}
	if (vnic) {
		component(comps, "net0", "virtio_nic",
			  json_pack("{s:s, s:s, s:o}", "backend_id", "net0-backend",
				    "interface_id", uuid, "pci_path", pci(8)));
		component(comps, "net0-backend", "virtio_network_backend",
			  json_pack("{s:s}", "vnic_name", vnic));
	}
	component(comps, "com1", "serial_port", json_pack("{s:s}", "num", "com1"));
	component(comps, "boot-settings", "boot_settings", json_pack("{s:o}", "order", order));
	body = json_pack(
		"{s:{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:i}},"
		" s:{s:s, s:{s:{s:{s:I, s:I, s:{s:s, s:{s:b}}}, s:o}}}}",
		"properties", "id", uuid, "name", vm->name, "description", "vmctl VM", "metadata",
		"project_id", nil, "silo_id", nil, "sled_id", nil, "sled_model", "vmctl",
		"sled_serial", "vmctl", "sled_revision", 0, "init", "method", "Spec", "value",
		"spec", "board", "cpus", (json_int_t)vm->vcpus, "memory_mb",
		(json_int_t)vm->memory_mb, "chipset", "type", "i440_fx", "value", "enable_pcie",
		0, "components", comps);
	text = body ? json_dumps(body, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

/* ---- talking to the server ---------------------------------------------- */

static uint64_t remaining_ms(uint64_t deadline)
{
	uint64_t now = vmmi_now_ms();

	return now >= deadline ? 0 : deadline - now;
}

/* A request whose answer must be `want`; the body of it in *body. */
static int call(const struct vmmi_propolis_vm *p, const char *method, const char *path,
		const char *req, long want, unsigned timeout_ms, json_t **body,
		struct vmm_error *err)
{
	struct vmmi_http_reply r;
	int rc;

	if (body)
		*body = NULL;
	if ((rc = vmmi_http_request(p->url, method, path, req, timeout_ms, &r, err)) < 0)
		return rc;
	if (r.status != want)
		rc = vmmi_http_error(method, path, &r, err);
	else if (body && !(*body = json_loadb(r.body, r.len, 0, NULL)))
		rc = vmm_error_set(err, VMM_E_BACKEND, 0, NULL,
				   "propolis-server answered %s %s with a body that is not JSON",
				   method, path);
	vmmi_http_reply_release(&r);
	return rc;
}

/* Wait until the server answers GET /instance (200, or 424 NoInstance);
 * *state its instance's state (malloc'd), NULL for none. */
static int wait_server(const struct vmmi_propolis_vm *p, unsigned secs, char **state,
		       struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + secs * 1000ull;
	struct vmmi_http_reply r;
	struct vmm_error e = {0};
	char *code;
	int rc;

	*state = NULL;
	for (;;) {
		rc = vmmi_http_request(p->url, "GET", "/instance", NULL, 3000, &r, &e);
		if (rc == 0 && r.status == 200) {
			json_t *j = json_loadb(r.body, r.len, 0, NULL);
			const char *s = json_string_value(
				json_object_get(json_object_get(j, "instance"), "state"));

			*state = s ? strdup(s) : NULL;
			json_decref(j);
			vmmi_http_reply_release(&r);
			return 0;
		}
		if (rc == 0) {
			code = vmmi_http_error_code(&r);
			if (r.status == 424 && code && strcmp(code, "NoInstance") == 0) {
				free(code);
				vmmi_http_reply_release(&r);
				return 0;
			}
			free(code);
			/* A server that answers something else answers for good. */
			if (r.status != 503 && !r.timed_out) {
				rc = vmmi_http_error("GET", "/instance", &r, err);
				vmmi_http_reply_release(&r);
				return rc;
			}
			vmmi_http_reply_release(&r);
		}
		if (vmmi_now_ms() >= deadline)
			break;
		vmmi_sleep_ms(POLL_MS);
	}
	return vmm_error_set(err, VMM_E_PROPOLIS_UNREACHABLE, 0,
			     "check the zone's propolis-server service (zlogin ZONE svcs -xv) "
			     "and VMCTL_PROPOLIS_URL; VMCTL_PROPOLIS_TIMEOUT waits longer",
			     "propolis-server of zone '%s' never came up: polled GET %s/instance "
			     "every %u ms for %u s (last: %s)",
			     p->zone, p->url, POLL_MS, secs, e.message[0] ? e.message : "no answer");
}

/* GET /instance/state-monitor {"gen": gen}: the server's generation and
 * state once it is at least gen; *state NULL if none came before deadline. */
static int monitor(const struct vmmi_propolis_vm *p, uint64_t gen, uint64_t deadline,
		   uint64_t *out_gen, char **state, struct vmm_error *err)
{
	struct vmmi_http_reply r;
	char req[64];
	json_t *j;
	int rc;

	*state = NULL;
	snprintf(req, sizeof(req), "{\"gen\": %llu}", (unsigned long long)gen);
	if (remaining_ms(deadline) == 0)
		return 0;
	rc = vmmi_http_request(p->url, "GET", "/instance/state-monitor", req,
			       (unsigned)remaining_ms(deadline), &r, err);
	if (rc < 0 || r.timed_out) {
		vmmi_http_reply_release(&r);
		return rc;
	}
	if (r.status == 410) { /* the instance is gone past gen */
		vmmi_http_reply_release(&r);
		*out_gen = gen;
		*state = strdup("Destroyed");
		return 0;
	}
	if (r.status != 200) {
		rc = vmmi_http_error("GET", "/instance/state-monitor", &r, err);
		vmmi_http_reply_release(&r);
		return rc;
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	vmmi_http_reply_release(&r);
	if (!json_is_string(json_object_get(j, "state")) ||
	    !json_is_integer(json_object_get(j, "gen"))) {
		json_decref(j);
		return vmm_error_set(err, VMM_E_BACKEND, 0, NULL,
				     "propolis-server's state-monitor answer has no gen or state");
	}
	*out_gen = (uint64_t)json_integer_value(json_object_get(j, "gen"));
	*state = strdup(json_string_value(json_object_get(j, "state")));
	json_decref(j);
	return 0;
}

/* Follow the generations until the instance is in one of `want` (or
 * Failed/Destroyed); *last the state it reached (malloc'd, NULL if none
 * was reported), *late whether the deadline came first. */
static int follow(const struct vmmi_propolis_vm *p, uint64_t gen, const char *const want[],
		  uint64_t deadline, char **last, bool *late, struct vmm_error *err)
{
	char *s = NULL;
	int rc;

	*last = NULL;
	*late = false;
	for (;;) {
		uint64_t g = gen;

		if ((rc = monitor(p, gen, deadline, &g, &s, err)) < 0)
			return rc;
		if (!s) {
			*late = true;
			return 0;
		}
		free(*last);
		*last = s;
		for (size_t i = 0; want[i]; i++)
			if (strcmp(s, want[i]) == 0)
				return 0;
		if (strcmp(s, "Failed") == 0 || strcmp(s, "Destroyed") == 0)
			return 0;
		gen = g + 1;
	}
}

/* console.log from the server's serial history (best effort). */
static void keep_history(const struct vmm_vm *vm, const struct vmmi_propolis_vm *p)
{
	char path_q[80];
	struct vmm_error e;
	struct vmmi_buf b;
	json_t *j = NULL, *v;
	size_t i;
	char *path;

	snprintf(path_q, sizeof(path_q), "/instance/serial/history?most_recent=%d",
		 HISTORY_BYTES);
	if (call(p, "GET", path_q, NULL, 200, 5000, &j, &e) < 0) {
		vmm_debug(MOD, "no console history for '%s': %s", vm->name, e.message);
		return;
	}
	vmmi_buf_init(&b);
	json_array_foreach(json_object_get(j, "data"), i, v)
	{
		char c = (char)json_integer_value(v);

		vmmi_buf_append(&b, &c, 1);
	}
	json_decref(j);
	if ((path = vmmi_path_join(vm->work_dir, VMMI_PROPOLIS_CONSOLE_LOG)))
		vmmi_write_file_atomic(path, b.data ? b.data : "", b.len, 0600, &e);
	free(path);
	vmmi_buf_release(&b);
}

/* ---- prepare ------------------------------------------------------------ */

/* The image's volume and its @base snapshot, made once per image. */
static int image_volume(const struct vmm_vm *vm, const struct vmmi_propolis_vm *p,
			const char *zvol_dir, struct vmm_error *err)
{
	char *snap = vmmi_asprintf("%s@base", p->image_dataset), *dev = NULL, *size = NULL;
	struct vmm_image_info info = {0};
	int rc = 0;

	if (!snap)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (dataset_exists(snap))
		goto out;
	if (dataset_exists(p->image_dataset)) {
		rc = vmm_error_set(err, VMM_E_IMAGE_NOT_FOUND, 0,
				   "destroy the unfinished image volume (zfs destroy -r DATASET) "
				   "and create the VM again",
				   "image dataset '%s' has no snapshot @base: its import did not "
				   "finish",
				   p->image_dataset);
		goto out;
	}
	if ((rc = vmm_image_info(vm->image_path, &info, err)) < 0)
		goto out;
	dev = vmmi_asprintf("%s/%s", zvol_dir, p->image_dataset);
	size = vmmi_asprintf("%llu", (unsigned long long)info.virtual_size);
	if (!dev || !size) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	vmm_info(MOD, "importing image %s into %s", vm->image_path, p->image_dataset);
	if ((rc = run(NULL, NULL, err, "zfs", "create", "-p", "-V", size, p->image_dataset,
		      NULL)) < 0)
		goto out;
	if ((rc = run(NULL, "check that the image is readable and the volume's device exists",
		      err, "qemu-img", "convert", "-n", "-O", "raw", vm->image_path, dev,
		      NULL)) < 0 ||
	    (rc = run(NULL, NULL, err, "zfs", "snapshot", snap, NULL)) < 0) {
		struct vmm_error e;

		/* no half-imported volume stays behind */
		run(NULL, NULL, &e, "zfs", "destroy", "-r", p->image_dataset, NULL);
	}
out:
	vmm_image_info_release(&info);
	free(snap);
	free(dev);
	free(size);
	return rc;
}

static char *zonecfg_script(const struct vmm_vm *vm, const struct vmmi_propolis_vm *p)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	vmmi_buf_printf(&b,
			"create -b; set brand=nebula-vm; set zonepath=%s/zone; "
			"set ip-type=exclusive; ",
			vm->work_dir);
	if (vm->network.type == VMM_NET_VNIC)
		vmmi_buf_printf(&b, "add net; set physical=%s; end; ", vm->network.vnic);
	vmmi_buf_printf(&b, "add device; set match=%s; end; commit", p->zvol);
	return vmmi_buf_steal(&b);
}

static int read_seed_b64(const struct vmm_vm *vm, char **out, struct vmm_error *err)
{
	char *data = NULL, *b64;
	size_t len;
	int rc, n;

	*out = NULL;
	if (!vm->seed_iso_path)
		return 0;
	if ((rc = vmmi_read_file(vm->seed_iso_path, &data, &len, err)) < 0)
		return rc;
	if (len > INT32_MAX / 2 || !(b64 = malloc(4 * ((len + 2) / 3) + 1))) {
		free(data);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)len);
	b64[n] = '\0';
	free(data);
	*out = b64;
	return 0;
}

static int propolis_prepare(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec,
			    struct vmm_vm *vm, const struct vmmi_phases *ph,
			    struct vmm_error *err)
{
	const char *pool = env_or("VMCTL_ZFS_POOL", VMMI_PROPOLIS_DEFAULT_POOL);
	const char *zvol_dir = env_or("VMCTL_ZVOL_DIR", "/dev/zvol/rdsk");
	struct vmmi_propolis_vm p = {0};
	char *key = NULL, *script = NULL;
	bool cloned = false, configured = false;
	struct vmm_error e;
	uint64_t t0;
	int rc;

	(void)ctx;
	if (vm->network.type == VMM_NET_USER || vm->network.type == VMM_NET_TAP)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "give the VM a VNIC: `--vnic NAME`, or network \"vnic\" { name "
				     "\"vnic0\" } in its vm block (or network \"none\")",
				     "%s networking is not available on the propolis backend",
				     vmm_net_type_name(vm->network.type));
	if (!vm->image_path)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "give an image with --image or --image-url",
				     "VM '%s' has no base image", vm->name);
	if (vm->network.type == VMM_NET_VNIC &&
	    (rc = run(NULL, "create it with `dladm create-vnic -l LINK NAME` or name another "
			    "one in network \"vnic\"",
		      err, "dladm", "show-vnic", "-p", "-o", "LINK", vm->network.vnic, NULL)) < 0) {
		if (err->code == VMM_E_BACKEND && err->sys_errno == 0) {
			char why[sizeof(err->message)];

			snprintf(why, sizeof(why), "%s", err->message);
			vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				      "create it with `dladm create-vnic -l LINK NAME` or name "
				      "another one in network \"vnic\"",
				      "VNIC '%s' does not exist (%s)", vm->network.vnic, why);
		}
		return -(int)err->code;
	}
	/* The pool: a missing zfs is its own error, a missing pool this one. */
	if ((rc = run(NULL, NULL, err, "zfs", "list", "-H", "-o", "name", pool, NULL)) < 0) {
		if (err->sys_errno == 0) {
			char why[sizeof(err->message)];

			snprintf(why, sizeof(why), "%s", err->message);
			vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				      "set VMCTL_ZFS_POOL to one of `zpool list -H -o name`",
				      "ZFS pool '%s' does not exist (%s)", pool, why);
		}
		return -(int)err->code;
	}
	key = image_key(vm->image_path);
	p.url = strdup(env_or("VMCTL_PROPOLIS_URL", VMMI_PROPOLIS_DEFAULT_URL));
	p.zone = strdup(vm->name);
	p.pool = strdup(pool);
	p.image_dataset = key ? vmmi_asprintf("%s/vmctl/images/%s", pool, key) : NULL;
	p.dataset = vmmi_asprintf("%s/vms/%s", pool, vm->name);
	p.zvol = vmmi_asprintf("%s/%s/vms/%s", zvol_dir, pool, vm->name);
	if (!p.url || !p.zone || !p.pool || !p.image_dataset || !p.dataset || !p.zvol) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t n = strlen(p.url); n > 0 && p.url[n - 1] == '/'; n--)
		p.url[n - 1] = '\0';
	/* Recorded before anything is made: a prepare that is interrupted
	 * leaves what destroy needs to find the zone and the clone. */
	if ((rc = vmmi_propolis_vm_save(vm, &p, err)) < 0)
		goto out;
	t0 = vmmi_now_ms();
	if ((rc = image_volume(vm, &p, zvol_dir, err)) < 0)
		goto out;
	if (dataset_exists(p.dataset)) {
		rc = vmm_error_set(err, VMM_E_VM_EXISTS, 0,
				   "destroy it (zfs destroy -r DATASET) if no VM uses it",
				   "ZFS dataset '%s' exists already", p.dataset);
		goto out;
	}
	{
		char *snap = vmmi_asprintf("%s@base", p.image_dataset);

		rc = snap ? run(NULL, NULL, err, "zfs", "clone", "-p", snap, p.dataset, NULL)
			  : vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		free(snap);
		if (rc < 0)
			goto out;
	}
	cloned = true;
	if (vm->disk_gb) {
		char prop[48];

		snprintf(prop, sizeof(prop), "volsize=%uG", vm->disk_gb);
		if ((rc = run(NULL, "the disk cannot be smaller than the image", err, "zfs",
			      "set", prop, p.dataset, NULL)) < 0)
			goto out;
	}
	/* The disk is the clone's device, outside the work directory: it is
	 * in the backend's record, not in overlay_path (which the store keeps
	 * inside the VM's directory). */
	vmmi_phase(ph, vm->name, "overlay", t0);
	t0 = vmmi_now_ms();
	if ((rc = vmmi_qemu_write_seed(spec, vm, err)) < 0)
		goto out;
	if (spec->cloud_init)
		vmmi_phase(ph, vm->name, "seed", t0);
	if (!(script = zonecfg_script(vm, &p))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	if ((rc = run(NULL, "check that the nebula-vm brand is installed (pkg list "
			    "system/zones/brand/nebula-vm)",
		      err, "zonecfg", "-z", vm->name, script, NULL)) < 0)
		goto out;
	configured = true;
	if ((rc = run(NULL, NULL, err, "zoneadm", "-z", vm->name, "install", NULL)) < 0)
		goto out;
	vmm_debug(MOD, "prepared '%s': zone %s, disk %s, server %s", vm->name, p.zone,
		  p.dataset, p.url);
out:
	if (rc < 0 && configured) {
		char *st;
		bool missing;

		if ((st = vmmi_zone_state(vm->name, &missing)) && strcmp(st, "configured") != 0)
			run(NULL, NULL, &e, "zoneadm", "-z", vm->name, "uninstall", "-F", NULL);
		free(st);
		run(NULL, NULL, &e, "zonecfg", "-z", vm->name, "delete", "-F", NULL);
	}
	if (rc < 0 && cloned)
		run(NULL, NULL, &e, "zfs", "destroy", "-r", p.dataset, NULL);
	vmmi_propolis_vm_release(&p);
	free(script);
	free(key);
	return rc;
}

/* ---- start, stop -------------------------------------------------------- */

static bool zone_running(const char *zone)
{
	bool missing;
	char *s = vmmi_zone_state(zone, &missing);
	bool running = s && strcmp(s, "running") == 0;

	free(s);
	return running;
}

static int halt_zone(const struct vmmi_propolis_vm *p, struct vmm_error *err)
{
	if (!zone_running(p->zone))
		return 0;
	return run(NULL, NULL, err, "zoneadm", "-z", p->zone, "halt", NULL);
}

static int ensure_and_run(struct vmm_vm *vm, const struct vmmi_propolis_vm *p,
			  uint64_t deadline, struct vmm_error *err)
{
	static const char *const running[] = {"Running", NULL};
	char *b64 = NULL, *body = NULL, *last = NULL, *s = NULL;
	uint64_t gen = 0;
	bool late;
	int rc;

	if ((rc = read_seed_b64(vm, &b64, err)) < 0)
		return rc;
	body = vmmi_propolis_ensure_body(vm, p->zvol, b64,
					 vm->network.type == VMM_NET_VNIC ? vm->network.vnic
									  : NULL);
	free(b64);
	if (!body)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = call(p, "PUT", "/instance", body, 201, 30000, NULL, err);
	free(body);
	if (rc < 0)
		return rc;
	if ((rc = monitor(p, 0, deadline, &gen, &s, err)) < 0)
		return rc;
	if ((rc = call(p, "PUT", "/instance/state", "\"Run\"", 204, 10000, NULL, err)) < 0)
		goto out;
	if ((rc = follow(p, gen + 1, running, deadline, &last, &late, err)) < 0)
		goto out;
	if (late)
		rc = vmm_error_set(err, VMM_E_BACKEND, 0, "VMCTL_PROPOLIS_TIMEOUT waits longer",
				   "the instance of VM '%s' was not Running after %u s (it is %s; "
				   "followed GET %s/instance/state-monitor)",
				   vm->name, timeout_s(), last ? last : s ? s : "not reported",
				   p->url);
	else if (strcmp(last, "Running") != 0)
		rc = vmm_error_set(err, VMM_E_BACKEND, 0,
				   "see the VM's console log: `vmctl log NAME --console`",
				   "the instance of VM '%s' did not run: propolis-server reports it %s",
				   vm->name, last);
out:
	free(last);
	free(s);
	return rc;
}

static int propolis_start(struct vmm_ctx *ctx, struct vmm_vm *vm,
			  const struct vmmi_ports_taken *taken, struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + timeout_s() * 1000ull;
	struct vmmi_propolis_vm p;
	struct vmm_error e;
	char *state = NULL;
	int rc;

	(void)ctx;
	(void)taken;
	if ((rc = vmmi_propolis_vm_load(vm, &p, err)) < 0)
		return rc;
	if (!zone_running(p.zone) &&
	    (rc = run(NULL, NULL, err, "zoneadm", "-z", p.zone, "boot", NULL)) < 0)
		goto out;
	if ((rc = wait_server(&p, timeout_s(), &state, err)) < 0)
		goto fail;
	if (state && vmmi_propolis_map_state(state) == VMM_STATE_RUNNING) {
		vmm_debug(MOD, "'%s' runs already (%s)", vm->name, state);
		goto out;
	}
	if (state) {
		rc = vmm_error_set(err, VMM_E_BACKEND, 0,
				   "start the VM again: its zone is halted now, and a new zone "
				   "boot starts a new propolis-server",
				   "propolis-server of zone '%s' holds an instance that is %s",
				   p.zone, state);
		goto fail;
	}
	if ((rc = ensure_and_run(vm, &p, deadline, err)) < 0)
		goto fail;
	goto out;
fail:
	/* Nothing half-started stays: the zone goes down with its server. */
	keep_history(vm, &p);
	halt_zone(&p, &e);
out:
	free(state);
	vmmi_propolis_vm_release(&p);
	return rc;
}

static int stop_instance(struct vmm_vm *vm, const struct vmmi_propolis_vm *p, unsigned secs,
			 struct vmm_error *err)
{
	static const char *const stopped[] = {"Stopped", "Destroyed", NULL};
	uint64_t deadline = vmmi_now_ms() + secs * 1000ull, gen = 0;
	struct vmmi_http_reply r;
	struct vmm_error e;
	char *s = NULL, *last = NULL;
	bool late;
	json_t *j;
	int rc;

	if (vmmi_http_request(p->url, "GET", "/instance", NULL, 3000, &r, &e) < 0 ||
	    r.status != 200) {
		vmmi_http_reply_release(&r);
		return 0; /* no server, or no instance: nothing runs in the zone */
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	vmmi_http_reply_release(&r);
	s = strdup(json_string_value(json_object_get(json_object_get(j, "instance"), "state"))
			   ?: "");
	json_decref(j);
	if (!s || vmmi_propolis_map_state(s) != VMM_STATE_RUNNING) {
		keep_history(vm, p);
		free(s);
		return 0;
	}
	free(s);
	s = NULL;
	if ((rc = monitor(p, 0, deadline, &gen, &s, err)) < 0)
		return rc;
	free(s);
	if ((rc = call(p, "PUT", "/instance/state", "\"Stop\"", 204, 10000, NULL, err)) < 0)
		return rc;
	rc = follow(p, gen + 1, stopped, deadline, &last, &late, err);
	if (rc == 0 && late)
		vmm_warn(MOD, "the instance of '%s' did not stop within %u s: halting its zone",
			 vm->name, secs);
	free(last);
	keep_history(vm, p);
	return rc;
}

static int propolis_stop(struct vmm_ctx *ctx, struct vmm_vm *vm, unsigned secs,
			 struct vmm_error *err)
{
	struct vmmi_propolis_vm p;
	int rc;

	(void)ctx;
	if ((rc = vmmi_propolis_vm_load(vm, &p, err)) < 0)
		return rc;
	/* An instance that does not stop gracefully goes with its zone. */
	if (stop_instance(vm, &p, secs, err) < 0)
		vmm_warn(MOD, "VM '%s': %s; halting its zone", vm->name, err->message);
	rc = halt_zone(&p, err);
	vmmi_propolis_vm_release(&p);
	return rc;
}

static int not_available(const struct vmm_vm *vm, const char *what, struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_BACKEND, 0,
			     "stop the VM instead (`vmctl stop NAME`); suspend and resume need "
			     "the qemu backend",
			     "the propolis backend cannot %s VM '%s'", what, vm->name);
}

static int propolis_suspend(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	return not_available(vm, "suspend", err);
}

static int propolis_resume(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	return not_available(vm, "resume", err);
}

static int propolis_destroy(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	struct vmmi_propolis_vm p;
	bool missing;
	char *st;
	int rc;

	if (vmmi_propolis_vm_load(vm, &p, err) < 0)
		return 0; /* prepare never finished: it undid what it made */
	if ((rc = propolis_stop(ctx, vm, 10, err)) < 0)
		goto out;
	st = vmmi_zone_state(p.zone, &missing);
	if (st && strcmp(st, "configured") != 0)
		rc = run(NULL, NULL, err, "zoneadm", "-z", p.zone, "uninstall", "-F", NULL);
	if (rc == 0 && st)
		rc = run(NULL, NULL, err, "zonecfg", "-z", p.zone, "delete", "-F", NULL);
	free(st);
	if (rc == 0 && p.dataset && dataset_exists(p.dataset))
		rc = run(NULL, NULL, err, "zfs", "destroy", "-r", p.dataset, NULL);
out:
	vmmi_propolis_vm_release(&p);
	return rc;
}

static int propolis_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
				     struct vmm_console_endpoint *out, struct vmm_error *err)
{
	struct vmmi_propolis_vm p;
	const char *rest;
	int rc;

	(void)ctx;
	out->kind = VMM_CONSOLE_NONE;
	out->path = NULL;
	if ((rc = vmmi_propolis_vm_load(vm, &p, err)) < 0)
		return rc;
	rest = strncmp(p.url, "http://", 7) == 0 ? p.url + 7 : p.url;
	out->path = vmmi_asprintf("ws://%s/instance/serial?most_recent=%d", rest, HISTORY_BYTES);
	vmmi_propolis_vm_release(&p);
	if (!out->path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	out->kind = VMM_CONSOLE_WEBSOCKET;
	return 0;
}

const struct vmm_backend_ops vmmi_backend_propolis = {
	.tag = VMM_BACKEND_PROPOLIS,
	.name = "propolis",
	.prepare = propolis_prepare,
	.start = propolis_start,
	.stop = propolis_stop,
	.suspend = propolis_suspend,
	.resume = propolis_resume,
	.destroy = propolis_destroy,
	.state = vmmi_propolis_state,
	.guest_ip = vmmi_propolis_guest_ip,
	.console_endpoint = propolis_console_endpoint,
};
