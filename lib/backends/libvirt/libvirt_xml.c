/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the libvirt backend: the domain and volume XML built
 * from a VM's spec, and what a URI says about reaching its guests (no
 * libvirt call here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backends/libvirt/libvirt.h"
#include "core/util.h"

/* Append s with XML's five special characters escaped. */
static void xml_text(struct vmmi_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			vmmi_buf_printf(b, "&amp;");
			break;
		case '<':
			vmmi_buf_printf(b, "&lt;");
			break;
		case '>':
			vmmi_buf_printf(b, "&gt;");
			break;
		case '\'':
			vmmi_buf_printf(b, "&apos;");
			break;
		case '"':
			vmmi_buf_printf(b, "&quot;");
			break;
		default:
			vmmi_buf_append(b, s, 1);
		}
	}
}

/* printf with %s arguments escaped: each "@" in fmt takes the next string. */
static void xml_line(struct vmmi_buf *b, const char *fmt, const char *const *args)
{
	for (; *fmt; fmt++) {
		if (*fmt == '@')
			xml_text(b, *args++);
		else
			vmmi_buf_append(b, fmt, 1);
	}
}

static int steal(struct vmmi_buf *b, char **out, struct vmm_error *err)
{
	if (!b->data) {
		vmmi_buf_release(b);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	*out = vmmi_buf_steal(b);
	return 0;
}

int vmmi_libvirt_domain_xml(const struct vmmi_libvirt_domain *d, char **out,
			    struct vmm_error *err)
{
	struct vmmi_buf b;

	*out = NULL;
	vmmi_buf_init(&b);
	vmmi_buf_printf(&b, "<domain type='%s'>\n", d->kvm ? "kvm" : "qemu");
	xml_line(&b, "  <name>@</name>\n", (const char *[]){d->name});
	vmmi_buf_printf(&b, "  <memory unit='MiB'>%llu</memory>\n",
			(unsigned long long)d->memory_mb);
	vmmi_buf_printf(&b, "  <vcpu>%u</vcpu>\n", d->vcpus);
	vmmi_buf_printf(&b, "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n"
			    "    <boot dev='hd'/>\n  </os>\n"
			    "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n");
	if (d->kvm)
		vmmi_buf_printf(&b, "  <cpu mode='host-passthrough'/>\n");
	vmmi_buf_printf(&b, "  <on_poweroff>destroy</on_poweroff>\n"
			    "  <on_reboot>restart</on_reboot>\n"
			    "  <on_crash>destroy</on_crash>\n  <devices>\n");
	xml_line(&b,
		 "    <disk type='volume' device='disk'>\n"
		 "      <driver name='qemu' type='qcow2'/>\n"
		 "      <source pool='@' volume='@'/>\n"
		 "      <target dev='vda' bus='virtio'/>\n    </disk>\n",
		 (const char *[]){d->pool, d->disk_volume});
	if (d->seed_volume)
		xml_line(&b,
			 "    <disk type='volume' device='disk'>\n"
			 "      <driver name='qemu' type='raw'/>\n"
			 "      <source pool='@' volume='@'/>\n"
			 "      <target dev='vdb' bus='virtio'/>\n      <readonly/>\n"
			 "    </disk>\n",
			 (const char *[]){d->pool, d->seed_volume});
	if (d->bridge)
		xml_line(&b,
			 "    <interface type='bridge'>\n      <mac address='@'/>\n"
			 "      <source bridge='@'/>\n      <model type='virtio'/>\n"
			 "    </interface>\n",
			 (const char *[]){d->mac, d->bridge});
	else
		xml_line(&b,
			 "    <interface type='network'>\n      <mac address='@'/>\n"
			 "      <source network='@'/>\n      <model type='virtio'/>\n"
			 "    </interface>\n",
			 (const char *[]){d->mac, d->network});
	vmmi_buf_printf(&b, "    <serial type='pty'>\n");
	if (d->console_log)
		xml_line(&b, "      <log file='@' append='off'/>\n",
			 (const char *[]){d->console_log});
	vmmi_buf_printf(&b, "      <target port='0'/>\n    </serial>\n"
			    "    <console type='pty'>\n      <target type='serial' port='0'/>\n"
			    "    </console>\n"
			    "    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>\n"
			    "      <listen type='address' address='127.0.0.1'/>\n"
			    "    </graphics>\n"
			    "    <rng model='virtio'>\n"
			    "      <backend model='random'>/dev/urandom</backend>\n    </rng>\n"
			    "  </devices>\n</domain>\n");
	return steal(&b, out, err);
}

int vmmi_libvirt_overlay_xml(const char *name, uint64_t capacity, const char *backing_path,
			     const char *backing_format, char **out, struct vmm_error *err)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	xml_line(&b, "<volume>\n  <name>@</name>\n", (const char *[]){name});
	vmmi_buf_printf(&b, "  <capacity unit='bytes'>%llu</capacity>\n"
			    "  <target>\n    <format type='qcow2'/>\n  </target>\n",
			(unsigned long long)capacity);
	xml_line(&b,
		 "  <backingStore>\n    <path>@</path>\n    <format type='@'/>\n"
		 "  </backingStore>\n</volume>\n",
		 (const char *[]){backing_path, backing_format});
	return steal(&b, out, err);
}

int vmmi_libvirt_volume_xml(const char *name, uint64_t capacity, const char *format,
			    char **out, struct vmm_error *err)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	xml_line(&b, "<volume>\n  <name>@</name>\n", (const char *[]){name});
	vmmi_buf_printf(&b, "  <capacity unit='bytes'>%llu</capacity>\n",
			(unsigned long long)capacity);
	xml_line(&b, "  <target>\n    <format type='@'/>\n  </target>\n</volume>\n",
		 (const char *[]){format});
	return steal(&b, out, err);
}



char *vmmi_libvirt_disk_volume(const char *vm_name)
{
	return vmmi_asprintf("vmctl-%s.qcow2", vm_name);
}

char *vmmi_libvirt_seed_volume(const char *vm_name)
{
	return vmmi_asprintf("vmctl-%s-seed.iso", vm_name);
}

void vmmi_libvirt_jump_release(struct vmmi_libvirt_jump *j)
{
	if (!j)
		return;
	free(j->user);
	free(j->host);
	free(j->keyfile);
	memset(j, 0, sizeof(*j));
}

/* The value of parameter key in a query "a=1&b=2" (malloc'd, unescaped),
 * or NULL. */
static char *query_param(const char *query, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			int n = 0;
			char *v = curl_easy_unescape(NULL, p + klen + 1, (int)(len - klen - 1), &n);
			char *c = v ? strndup(v, (size_t)n) : NULL;

			curl_free(v);
			return c;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

int vmmi_libvirt_jump(const char *uri, struct vmmi_libvirt_jump *out, struct vmm_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL, *query = NULL;
	const char *plus;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!u)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, uri, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "a libvirt URI looks like qemu:///system or "
				   "qemu+ssh://user@host/system",
				   "'%s' is not a libvirt URI", uri);
		goto out;
	}
	plus = strchr(scheme, '+');
	/* only an ssh transport says the guest is behind the host */
	if (!plus || (strcmp(plus + 1, "ssh") != 0 && strcmp(plus + 1, "libssh") != 0 &&
		      strcmp(plus + 1, "libssh2") != 0))
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "name the host: qemu+ssh://user@host/system",
				   "libvirt URI '%s' has an ssh transport but no host", uri);
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	out->host = strdup(host);
	out->user = user ? strdup(user) : NULL;
	out->port = port ? (unsigned)strtoul(port, NULL, 10) : 0;
	out->keyfile = query ? query_param(query, "keyfile") : NULL;
	{
		char *nv = query ? query_param(query, "no_verify") : NULL;

		out->no_verify = nv && strcmp(nv, "0") != 0;
		free(nv);
	}
	if (!out->host || (user && !out->user)) {
		vmmi_libvirt_jump_release(out);
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	rc = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(port);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}
