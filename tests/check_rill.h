/* SPDX-License-Identifier: MIT */
/* rill tests: one suite factory per module; tests/check_main.c runs them. */
#ifndef CHECK_RILL_H
#define CHECK_RILL_H

#include <check.h>

Suite *core_suite(void);
Suite *sources_suite(void);
Suite *operators_suite(void);
Suite *merge_suite(void);
Suite *battery_suite(void);
Suite *sched_suite(void);
Suite *time_suite(void);
Suite *rate_suite(void);
Suite *shift_suite(void);
Suite *fd_suite(void);
Suite *flatten_suite(void);
Suite *kit_suite(void);
Suite *enomem_suite(void);
Suite *realtime_suite(void);
Suite *async_demand_suite(void);
Suite *effects_suite(void);
Suite *join_suite(void);
Suite *notifier_suite(void);
Suite *recover_suite(void);
Suite *breaker_suite(void);
Suite *channel_suite(void);
Suite *combine_suite(void);
Suite *patterns_suite(void);
Suite *redis_suite(void);
Suite *group_by_suite(void);
Suite *subject_suite(void);

#endif
