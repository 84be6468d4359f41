#include "check_rill.h"
#include "testlib.h"
Suite *merge_suite(void) {
  Suite *s = suite_create("merge");
  return s;
}
