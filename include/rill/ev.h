/* SPDX-License-Identifier: MIT */
/* rill: the libev scheduler.  Include this (it includes <ev.h>) where you
 * create the scheduler on your loop; everything else only needs rill.h. */
#ifndef RILL_EV_H
#define RILL_EV_H

#include <ev.h>

#include "../rill.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A scheduler on a loop you own (the default loop or one from
 * ev_loop_new).  rill never calls ev_run and never destroys the loop.
 * NULL with errno EINVAL (loop NULL) or ENOMEM. */
RILL_EXTERN rill_sched_t *rill_sched_ev_new(struct ev_loop *loop);
/* The loop of an ev scheduler, NULL for others. */
RILL_EXTERN struct ev_loop *rill_sched_ev_loop(rill_sched_t *s);

#ifdef __cplusplus
}
#endif
#endif /* RILL_EV_H */
