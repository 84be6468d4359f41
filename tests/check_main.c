/* SPDX-License-Identifier: MIT */
/* rill tests: the one runner.  CK_RUN_SUITE=name runs one suite,
 * CK_RUN_CASE=name one test case; CK_FORK=no for valgrind. */
#include <stdlib.h>

#include "check_rill.h"

int main(void) {
  SRunner *sr = srunner_create(core_suite());
  srunner_add_suite(sr, sources_suite());
  srunner_add_suite(sr, operators_suite());
  srunner_add_suite(sr, merge_suite());
  srunner_add_suite(sr, battery_suite());
  srunner_add_suite(sr, sched_suite());
  srunner_add_suite(sr, time_suite());
  srunner_add_suite(sr, rate_suite());
  srunner_add_suite(sr, shift_suite());
  srunner_add_suite(sr, fd_suite());
  srunner_add_suite(sr, flatten_suite());
  srunner_add_suite(sr, kit_suite());
  srunner_add_suite(sr, enomem_suite());
  srunner_add_suite(sr, realtime_suite());
  srunner_add_suite(sr, async_demand_suite());
  srunner_add_suite(sr, effects_suite());
  srunner_add_suite(sr, join_suite());
  srunner_add_suite(sr, notifier_suite());
  srunner_add_suite(sr, recover_suite());
  srunner_add_suite(sr, breaker_suite());
  srunner_add_suite(sr, combine_suite());
  srunner_add_suite(sr, patterns_suite());
  srunner_add_suite(sr, redis_suite());
  srunner_add_suite(sr, channel_suite());
  srunner_add_suite(sr, group_by_suite());
  srunner_add_suite(sr, subject_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
