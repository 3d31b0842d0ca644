/* SPDX-License-Identifier: MIT */
/* vmctl status: everything known about one VM. */
#include "cli.h"
#include "vmjson.h"

enum { OPT_JSON = 256 };

static const struct option longopts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{0},
};

/* A value as text that cannot drive the terminal: control characters
 * (C0, DEL and the C1 range U+0080 to U+009F) and the backslash are
 * escaped. */
static void put_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", *++p);
		else
			putchar(*p);
	}
}

static void field(const char *key, const char *value)
{
	printf("%-12s ", key);
	put_escaped(value && *value ? value : "-");
	putchar('\n');
}

/* The guest's address as the backend sees it now (no waiting): NULL when
 * the VM does not run, has no network or no address yet. */
static char *guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm)
{
	struct vmm_error err;
	char *ip = NULL;

	if (vm->state != VMM_STATE_RUNNING && vm->state != VMM_STATE_SUSPENDED)
		return NULL;
	if (vmm_vm_guest_ip(ctx, vm, &ip, &err) < 0)
		return NULL;
	return ip;
}

static void print_status(const struct vmm_vm *vm, const char *ip)
{
	char buf[128];

	field("Name:", vm->name);
	field("ID:", vm->id);
	field("Backend:", vmm_backend_name(vm->backend));
	field("State:", vmm_vm_state_name(vm->state));
	snprintf(buf, sizeof(buf), "%u", vm->vcpus);
	field("vCPUs:", buf);
	snprintf(buf, sizeof(buf), "%llu MB", (unsigned long long)vm->memory_mb);
	field("Memory:", buf);
	if (vm->disk_gb)
		snprintf(buf, sizeof(buf), "%u GB", vm->disk_gb);
	else
		snprintf(buf, sizeof(buf), "as base image");
	field("Disk:", buf);
	if (vm->network.type == VMM_NET_TAP)
		snprintf(buf, sizeof(buf), "tap (bridge %s)", vm->network.bridge ? vm->network.bridge : "br0");
	else if (vm->network.type == VMM_NET_VNIC)
		snprintf(buf, sizeof(buf), "vnic (%s)", vm->network.vnic ? vm->network.vnic : "?");
	else
		snprintf(buf, sizeof(buf), "%s", vmm_net_type_name(vm->network.type));
	field("Network:", buf);
	field("IP:", ip);
	field("Image:", vm->image_url ? vm->image_url : vm->image_path);
	if (vm->uri) { /* a VM on a libvirt host */
		field("Host:", vm->host);
		field("URI:", vm->uri);
		field("Pool:", vm->pool);
	}
	field("Work dir:", vm->work_dir);
	field("Overlay:", vm->overlay_path);
	field("Seed ISO:", vm->seed_iso_path);
	if (vm->pid)
		snprintf(buf, sizeof(buf), "%ld", (long)vm->pid);
	field("PID:", vm->pid ? buf : NULL);
	field("VNC:", vm->vnc_addr);
	if (vm->ssh_host_port)
		snprintf(buf, sizeof(buf), "%u (127.0.0.1)", vm->ssh_host_port);
	field("SSH port:", vm->ssh_host_port ? buf : NULL);
	/* the forwards as `vmctl port` shows them, one a line */
	for (size_t i = 0; i < vm->n_forwards || i == 0; i++) {
		const struct vmm_forward *f = vm->n_forwards ? &vm->forwards[i] : NULL;

		if (f && f->host_port)
			snprintf(buf, sizeof(buf), "%u/%s -> %s:%u", f->guest_port,
				 vmm_forward_proto(f), f->address, f->host_port);
		else if (f)
			snprintf(buf, sizeof(buf), "%u/%s -> %s:-", f->guest_port,
				 vmm_forward_proto(f), f->address);
		field(i ? "" : "Ports:", f ? buf : NULL);
	}
	field("SSH user:", vm->ssh_user);
	field("SSH key:", vm->ssh_key_path);
	field("MAC:", vm->mac_addr);
	field("Created:", vm->created_at);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	bool json = false;
	const char *name;
	char *ip = NULL;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1)
		if (c == OPT_JSON)
			json = true;
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_vm_lookup(ctx, name, &vm, &err) < 0) {
		rc = cli_error(&err);
	} else if (json) {
		json_t *o = vmm_vm_to_json(vm);

		ip = guest_ip(ctx, vm);
		if (o)
			json_object_set_new(o, "ip", ip ? json_string(ip) : json_null());
		cli_print_json(o);
		json_decref(o);
	} else {
		ip = guest_ip(ctx, vm);
		print_status(vm, ip);
	}
	free(ip);
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_status = {
	.name = "status",
	.summary = "Show detailed status of a VM",
	.usage = "  vmctl status [--json] NAME",
	.help = "Shows name, ID, backend, live state, resources, network, the guest's IP\n"
		"address (of a running VM; a bridged guest's once it has a lease), paths,\n"
		"PID, VNC address, SSH port and user, port forwards and MAC address.\n"
		"\n"
		"Options:\n"
		"      --json              Print a JSON object for scripts\n",
	.run = run,
};
