#include "check_rill.h"
#include "testlib.h"
Suite *sources_suite(void) {
  Suite *s = suite_create("sources");
  return s;
}
