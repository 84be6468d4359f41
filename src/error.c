/* SPDX-License-Identifier: MIT */
/* rill: error strings from the one error table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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
    return code <= RILL_EAPP_BASE ? "application error" : "unknown error";
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
    return code <= RILL_EAPP_BASE ? "RILL_EAPP" : "RILL_UNKNOWN";
  }
}

static bool code_in_table(int code) {
  return code < 0 && code > RILL_EAPP_BASE &&
         strcmp(rill_err_name(code), "RILL_UNKNOWN") != 0;
}

/* The message rill_fail() attached, per thread, until a stage reads it. */
static _Thread_local struct {
  int code;
  bool set;
  char text[RILL_ERROR_MESSAGE_MAX];
} attached;

int rill_fail(int code, const char *fmt, ...) {
  attached.code = code;
  attached.set = fmt != NULL;
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(attached.text, sizeof(attached.text), fmt, ap);
    va_end(ap);
  }
  return code;
}

void rill__error_callback(rill_error_t *err, const char *stage, int code,
                          const char *what) {
  const char *text = what;
  if (attached.set && attached.code == code) {
    text = attached.text;
    attached.set = false;
  }
  if (code_in_table(code))
    rill__error_init(err, code, 0, stage, "%s: %s (%s)", stage, text,
                     rill_err_name(code));
  else
    rill__error_init(err, code, 0, stage, "%s: %s (code %d)", stage, text,
                     code);
}

void rill__error_sys(rill_error_t *err, const char *stage, int sys_errno,
                     const char *fmt, ...) {
  char what[RILL_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  rill__error_init(err, RILL_ESYS, sys_errno, stage, "%s: %s: %s", stage, what,
                   strerror(sys_errno));
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
