/* SPDX-License-Identifier: MIT */
/* rill: reactive streams for C, on libev.  What every public header needs.
 *
 * RILL_EXTERN marks the library's exported functions: the library is built
 * with -fvisibility=hidden, so only these are visible to programs.  Every
 * public header includes this one, so each of them compiles on its own. */
#ifndef RILL_COMMON_H
#define RILL_COMMON_H

#if defined(__GNUC__) && __GNUC__ >= 4
#define RILL_EXTERN __attribute__((visibility("default")))
#else
#define RILL_EXTERN
#endif

#endif /* RILL_COMMON_H */
