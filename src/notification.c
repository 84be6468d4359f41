/* SPDX-License-Identifier: MIT */
/* rill: notifications as values (materialize, all_settled).  A
 * notification is an owned value whose box releases the struct below; the
 * box's release function is the tag that says "this is a notification". */
#include <string.h>

#include "rill-internal.h"

static void notification_release(void *ptr) {
  rill_notification_t *n = ptr;
  rill_value_release(n->value);
  rill__free(n);
}

int rill_notification_new(rill_notification_kind_t kind, rill_value_t value,
                          const rill_error_t *err, rill_value_t *out) {
  bool bad_kind = kind != RILL_NOTIFICATION_NEXT &&
                  kind != RILL_NOTIFICATION_ERROR &&
                  kind != RILL_NOTIFICATION_COMPLETE;
  if (out != NULL)
    *out = (rill_value_t){0}; /* a NONE value on every failure */
  if (out == NULL || bad_kind ||
      (kind == RILL_NOTIFICATION_ERROR && err == NULL)) {
    rill_value_release(value);
    return RILL_EINVAL;
  }
  rill_notification_t *n = rill__malloc(sizeof(*n));
  if (n == NULL) {
    rill_value_release(value);
    return RILL_ENOMEM;
  }
  memset(n, 0, sizeof(*n));
  n->kind = kind;
  if (kind == RILL_NOTIFICATION_NEXT)
    n->value = value;
  else
    rill_value_release(value);
  if (kind == RILL_NOTIFICATION_ERROR)
    n->error = *err;
  return rill_value_owned(n, notification_release, out);
}

const rill_notification_t *rill_value_notification(rill_value_t v) {
  if (v.kind != RILL_KIND_OWNED || v.as.box == NULL ||
      rill__value_box_release(v) != notification_release)
    return NULL;
  return rill_value_owned_ptr(v);
}
