# Line-oriented reader for the YAML subset that vmctl's seed generator emits
# (README.md, "YAML subset"). Runs under busybox awk inside the test guest.
#
# Input: meta-data and/or user-data files. Output: one record per line,
# "KEY<TAB>VALUE", for the init script to apply. A value that contains a
# newline or a tab after unquoting is dropped (the init could not apply it
# safely anyway). Block scalars (ssh host keys) are written to files under
# the directory given as -v outdir=DIR, and the record carries the file name.

function hexval(h,    i, c, v) {
    v = 0
    h = tolower(h)
    for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", substr(h, i, 1))
        if (c == 0) return -1
        v = v * 16 + c - 1
    }
    return v
}

function utf8(cp) {
    if (cp < 128) return sprintf("%c", cp)
    if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
    if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
    return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64,
                   128 + int(cp / 64) % 64, 128 + cp % 64)
}

# Unquote a scalar: "double" (with escapes), 'single', or plain (a trailing
# " #comment" removed).
function scalar(s,    out, i, c, n, q) {
    sub(/^[ \t]+/, "", s)
    if (substr(s, 1, 1) == "\"") {
        out = ""
        for (i = 2; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "\"") return out
            if (c != "\\") { out = out c; continue }
            i++
            c = substr(s, i, 1)
            if (c == "n") out = out "\n"
            else if (c == "t") out = out "\t"
            else if (c == "r") out = out "\r"
            else if (c == "0") out = out ""
            else if (c == "x" || c == "u" || c == "U") {
                n = (c == "x") ? 2 : (c == "u") ? 4 : 8
                out = out utf8(hexval(substr(s, i + 1, n)))
                i += n
            } else out = out c
        }
        return out
    }
    if (substr(s, 1, 1) == "'") {
        out = ""
        for (i = 2; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "'") {
                if (substr(s, i + 1, 1) == "'") { out = out "'"; i++; continue }
                return out
            }
            out = out c
        }
        return out
    }
    sub(/[ \t]+#.*$/, "", s)
    sub(/[ \t\r]+$/, "", s)
    return s
}

function emit(key, value) {
    if (value ~ /[\n\t]/) {
        print "vmctl-guest: ignoring " key ": value holds a newline or tab" > "/dev/stderr"
        return
    }
    print key "\t" value
}

function indent_of(line) {
    match(line, /^ */)
    return RLENGTH
}

function finish_block(    f) {
    if (blockkey == "") return
    f = outdir "/" blockkey
    printf "%s", blocktext > f
    close(f)
    emit(blockkey, f)
    blockkey = ""
    blocktext = ""
}

FNR == 1 { finish_block(); section = ""; userlist = -1 }

{
    line = $0
    sub(/\r$/, "", line)
}

# Block scalar body: every line more indented than its key (or empty).
blockkey != "" {
    if (line ~ /^[ \t]*$/) { blocktext = blocktext "\n"; next }
    if (indent_of(line) > blockindent) {
        if (blockcol < 0) blockcol = indent_of(line)
        blocktext = blocktext substr(line, blockcol + 1) "\n"
        next
    }
    finish_block()
}

line ~ /^#vmctl-test:/ {
    v = line
    sub(/^#vmctl-test:[ \t]*/, "", v)
    sub(/[ \t]+$/, "", v)
    emit("test", v)
    next
}

line ~ /^[ \t]*(#.*)?$/ { next }
line ~ /^---/ || line ~ /^\.\.\./ { next }

{
    ind = indent_of(line)
    body = substr(line, ind + 1)
    item = 0
    if (body ~ /^- /) {
        item = 1
        body = substr(body, 3)
        sub(/^ +/, "", body)
        ind += 2
    } else if (body == "-") {
        item = 1
        body = ""
    }
    key = ""
    val = body
    if (body ~ /^[A-Za-z0-9_.-]+:( |$)/) {
        key = body
        sub(/:.*$/, "", key)
        val = substr(body, length(key) + 2)
        sub(/^ +/, "", val)
    }

    if (ind == 0 && !item) {
        section = key
        userlist = -1
        if (key == "hostname" || key == "fqdn" || key == "local-hostname" ||
            key == "instance-id" || key == "disable_root" || key == "manage_etc_hosts")
            emit(key, scalar(val))
        next
    }

    if (section == "users") {
        if (item && userlist < 0) userlist = ind
        if (item && ind == userlist) {
            inlist = ""
            if (key == "") {
                if (scalar(val) == "default") emit("user.default", "yes")
                next
            }
            emit("user.begin", "")
        }
        if (key != "" && ind == userlist) {
            inlist = ""
            if (val == "") { inlist = key; next }
            if (key == "name" || key == "sudo" || key == "shell" || key == "groups" ||
                key == "lock_passwd" || key == "gecos" || key == "homedir")
                emit("user." key, scalar(val))
            else if (val ~ /^\[/)
                emit("warn", "flow sequences are not supported: " key)
            next
        }
        if (item && inlist != "" && ind > userlist) {
            if (inlist == "ssh_authorized_keys") emit("user.key", scalar(body))
            else if (inlist == "sudo") emit("user.sudo", scalar(body))
            else if (inlist == "groups") emit("user.groups", scalar(body))
        }
        next
    }

    if (section == "ssh_keys" && key != "" && !item) {
        if (val ~ /^[|>][-+0-9]*$/) {
            blockkey = "hostkey." key
            blockindent = ind
            blockcol = -1
            blocktext = ""
            next
        }
        v = scalar(val)
        if (v ~ /\n/) {
            blockkey = "hostkey." key
            blocktext = v
            finish_block()
        } else
            emit("hostkey." key, v)
        next
    }

    # mounts: flow sequences of double-quoted scalars, as vmctl writes them:
    #   - ["vmctl0", "/home/vm/src", "virtiofs", "defaults,nofail", "0", "0"]
    if (section == "mounts" && item) {
        n = 0
        rest = body
        while (match(rest, /"([^"\\]|\\.)*"/)) {
            f[++n] = scalar(substr(rest, RSTART, RLENGTH))
            rest = substr(rest, RSTART + RLENGTH)
        }
        if (n < 2) { emit("warn", "mounts: cannot read " body); next }
        emit("mount.dev", f[1])
        emit("mount.dir", f[2])
        emit("mount.type", n >= 3 ? f[3] : "auto")
        emit("mount.opts", n >= 4 ? f[4] : "defaults")
        next
    }

    if (section == "ssh_authorized_keys" && item) {
        emit("default.key", scalar(body))
        next
    }
}

END { finish_block() }
