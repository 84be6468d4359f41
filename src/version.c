/* SPDX-License-Identifier: MIT */
/* rill: the version of the library that is running (rill/version.h). */
#include "rill-internal.h"

const char *rill_version(void) {
  return RILL_VERSION_STRING;
}

int rill_version_number(void) {
  return RILL_VERSION_HEX;
}
