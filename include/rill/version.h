/* SPDX-License-Identifier: MIT */
/* rill: reactive streams for C, on libev.  Version numbers.
 *
 * The one place the version is written: configure.ac reads the three
 * RILL_VERSION_MAJOR/MINOR/PATCH lines below (AC_INIT, hence
 * PACKAGE_VERSION, rill.pc and the tarball's name), so a release edits
 * them and nothing else.  Keep each on its own line, as "#define NAME n". */
#ifndef RILL_VERSION_H
#define RILL_VERSION_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RILL_VERSION_MAJOR 0
#define RILL_VERSION_MINOR 1
#define RILL_VERSION_PATCH 0

/* The headers' version as one number, 0xMMmmpp, and as "MAJOR.MINOR.PATCH"
 * (a string literal). */
#define RILL_VERSION_HEX                                                       \
  ((RILL_VERSION_MAJOR << 16) | (RILL_VERSION_MINOR << 8) | RILL_VERSION_PATCH)
#define RILL__STR2(x) #x
#define RILL__STR(x) RILL__STR2(x)
#define RILL_VERSION_STRING                                                    \
  RILL__STR(RILL_VERSION_MAJOR)                                                \
  "." RILL__STR(RILL_VERSION_MINOR) "." RILL__STR(RILL_VERSION_PATCH)

/* The version of the library linked at run time, which may differ from the
 * headers a program was compiled with (a newer shared library):
 * rill_version() returns "MAJOR.MINOR.PATCH" (a static string),
 * rill_version_number() the same as RILL_VERSION_HEX. */
RILL_EXTERN const char *rill_version(void);
RILL_EXTERN int rill_version_number(void);

#ifdef __cplusplus
}
#endif
#endif /* RILL_VERSION_H */
