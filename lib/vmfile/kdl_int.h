/* SPDX-License-Identifier: MIT */
/*
 * lib/kdl_int.h - private parts of the KDL module shared by lib/kdl.c
 * (parser) and lib/kdl_print.c (printer, accessors).
 */
#ifndef VMMI_KDL_INT_H
#define VMMI_KDL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/kdl.h"

/* Character classes of the two grammars (v1: false = KDL 2.0). */
bool vmmi_kdl_is_newline(uint32_t cp, bool v1);
bool vmmi_kdl_is_space(uint32_t cp, bool v1);
/* Whether cp may appear in a bare identifier. */
bool vmmi_kdl_is_ident_char(uint32_t cp, bool v1);
/* Decode one UTF-8 sequence of valid UTF-8 text (len > 0); returns the code
 * point and stores its byte length in *n. */
uint32_t vmmi_kdl_decode(const unsigned char *s, size_t len, int *n);

#endif
