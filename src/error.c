/* rill: error strings from the one error table. */
#include <errno.h>
#include <stdio.h>

#include "rill-internal.h"

const char *rill_strerror(int code) {
  switch (code) {
#define RILL__ERR_STR(name, value, msg)                                        \
  case (value):                                                                \
    return (msg);
    RILL_ERRNO_MAP(RILL__ERR_STR)
#undef RILL__ERR_STR
  case 0:
    return "success";
  default:
    return "unknown error";
  }
}

const char *rill_err_name(int code) {
  switch (code) {
#define RILL__ERR_NAME(name, value, msg)                                       \
  case (value):                                                                \
    return "RILL_" #name;
    RILL_ERRNO_MAP(RILL__ERR_NAME)
#undef RILL__ERR_NAME
  case 0:
    return "RILL_OK";
  default:
    return "RILL_UNKNOWN";
  }
}

void rill__errno_null_source(void) {
  if (errno != ENOMEM)
    errno = EINVAL;
}

void rill__error_init(rill_error_t *err, int code, int sys_errno,
                      const char *stage, const char *fmt, ...) {
  err->code = code;
  err->sys_errno = sys_errno;
  err->stage = stage ? stage : "rill";
  if (fmt == NULL) {
    snprintf(err->message, sizeof(err->message), "%s", rill_strerror(code));
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}
