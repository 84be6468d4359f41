/* SPDX-License-Identifier: MIT */
/* rill tests: tests/rxjs_conformance as built when configure found no
 * jansson (the real runner, tests/rxjs_conformance.c, reads the RxJS cases
 * with it).  Says what is missing and reports itself skipped (77). */
#include <stdio.h>

int main(void) {
  printf("rxjs_conformance: skipped: built without the jansson JSON library, "
         "which reads the RxJS cases; install the Debian package "
         "libjansson-dev (apt-get install libjansson-dev), then re-run "
         "configure and make check\n");
  return 77;
}
