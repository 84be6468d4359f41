#include "check_rill.h"
#include "testlib.h"
Suite *operators_suite(void) {
  Suite *s = suite_create("operators");
  return s;
}
