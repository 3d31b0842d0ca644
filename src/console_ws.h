/* SPDX-License-Identifier: MIT */
/*
 * src/console_ws.h - a serial console reached over a WebSocket (the
 * propolis backend's /instance/serial), turned into a local stream socket
 * so that `vmctl console` relays it as it relays a unix socket.
 */
#ifndef VMCTL_CONSOLE_WS_H
#define VMCTL_CONSOLE_WS_H

/*
 * Connect to the WebSocket at url (ws://HOST:PORT/PATH), sending the
 * api-version header the server requires. Returns a socket: what is read
 * from it is the console's output (binary frames), what is written to it
 * goes to the console; it reads end of file when the WebSocket closes.
 * Returns -1 after printing the error (name: the VM, for the message).
 */
int console_ws_open(const char *url, const char *name);

#endif
