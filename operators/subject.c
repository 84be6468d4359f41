/* SPDX-License-Identifier: MIT */
/* rill: subject observable -- rill_subject_observable(subj): each
 * subscription is a subscriber of the subject (src/subject.c), RxJS
 * `subject.asObservable()`.
 *
 * Order: the subscriber joins the subject first (given what the subject
 * replays: a behavior subject's current value, a replay subject's
 * values), then on_subscribe goes downstream; a value pushed from inside
 * that on_subscribe reaches it.  A subject that has ended gives its
 * terminal right after on_subscribe (after the replayed values, for a
 * replay subject).
 * Demand: the subscriber's own (the kit's multicast member): values wait
 * in its bounded buffer until requested; past the buffer the subject's
 * overflow policy applies.
 * Time: none (a replay subject reads its scheduler's clock).
 * Owns: one reference to the subject (the recipe's; a live subscription
 * keeps its recipe), so rill_subject_free() while subscribers remain is
 * fine.  Each subscription holds its buffered values, released when it
 * ends. */
#include <errno.h>

#include "kit/multicast.h"

struct subject_args {
  rill_subject_t *subj; /* the recipe's reference */
};

struct subject_state {
  struct rill__mcast_member m; /* first: the kit's view */
};

static int subject_init(struct rill__op *op) {
  const struct subject_args *a = op->args;
  return rill__subject_join(a->subj, op);
}

static void subject_args_release(void *args) {
  struct subject_args *a = args;
  rill_subject_free(a->subj);
}

static const struct rill__op_ops subject_ops = {
    .name = "subject",
    .source = true,
    .args_size = sizeof(struct subject_args),
    .state_size = sizeof(struct subject_state),
    .init = subject_init,
    .on_subscribe = rill__mcast_start,
    .on_request = rill__mcast_request,
    .on_cancel = rill__mcast_cancel,
    .destroy = rill__mcast_destroy,
    .args_release = subject_args_release,
};

rill_observable_t *rill_subject_observable(rill_subject_t *subj) {
  if (subj == NULL) {
    rill__errno_null_source();
    return NULL;
  }
  struct subject_args args = {.subj = rill__subject_ref(subj)};
  return rill__op_create(NULL, &subject_ops, &args);
}
