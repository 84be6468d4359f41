#include "check_rill.h"
#include "testlib.h"
Suite *battery_suite(void) {
  Suite *s = suite_create("battery");
  return s;
}
