/* SPDX-License-Identifier: MIT */
/* rill tests: JavaScript values on rill values (see conformance.h). */
#include "conformance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static conf_atom_t *atoms;

rill_value_t conf_atom(enum conf_atom_type type, const char *text) {
  for (conf_atom_t *a = atoms; a != NULL; a = a->next)
    if (a->type == type && strcmp(a->text, text) == 0)
      return rill_value_ptr(a);
  conf_atom_t *a = calloc(1, sizeof(*a));
  if (a == NULL)
    abort();
  a->type = type;
  a->text = strdup(text);
  if (a->text == NULL)
    abort();
  a->next = atoms;
  atoms = a;
  return rill_value_ptr(a);
}

rill_value_t conf_str(const char *s) {
  return conf_atom(CONF_STR, s);
}

void conf_atoms_free(void) {
  while (atoms != NULL) {
    conf_atom_t *n = atoms->next;
    free(atoms->text);
    free(atoms);
    atoms = n;
  }
}

const conf_atom_t *conf_atom_of(rill_value_t v) {
  return v.kind == RILL_KIND_PTR ? v.as.ptr : NULL;
}

rill_value_t js_number(double d) {
  if (d == floor(d) && fabs(d) < 9e15 && !(d == 0 && signbit(d)))
    return rill_value_int((int64_t)d);
  return rill_value_double(d);
}

static rill_value_t canonical_object(json_t *j) {
  char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
  rill_value_t v = conf_atom(CONF_OBJ, s ? s : "?");
  free(s);
  return v;
}

rill_value_t conf_from_json(json_t *j) {
  if (j == NULL)
    return conf_atom(CONF_UNDEF, "undefined");
  switch (json_typeof(j)) {
  case JSON_INTEGER:
    return rill_value_int(json_integer_value(j));
  case JSON_REAL:
    return js_number(json_real_value(j));
  case JSON_TRUE:
    return rill_value_bool(true);
  case JSON_FALSE:
    return rill_value_bool(false);
  case JSON_NULL:
    return conf_atom(CONF_NULL, "null");
  case JSON_STRING:
    return conf_str(json_string_value(j));
  case JSON_ARRAY: {
    rill_array_t *a = rill_array_new(json_array_size(j));
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) rill_array_push(a, conf_from_json(e));
    return rill_value_array(a);
  }
  case JSON_OBJECT: {
    if (json_object_get(j, "$undefined"))
      return conf_atom(CONF_UNDEF, "undefined");
    json_t *n = json_object_get(j, "$number");
    if (json_is_string(n)) {
      const char *s = json_string_value(n);
      if (strcmp(s, "Infinity") == 0)
        return rill_value_double(INFINITY);
      if (strcmp(s, "-Infinity") == 0)
        return rill_value_double(-INFINITY);
      if (strcmp(s, "-0") == 0)
        return rill_value_double(-0.0);
      return rill_value_double(NAN);
    }
    return canonical_object(j);
  }
  }
  return conf_atom(CONF_UNDEF, "undefined");
}

static bool is_num(rill_value_t v) {
  return v.kind == RILL_KIND_INT || v.kind == RILL_KIND_DOUBLE;
}

bool conf_equal(rill_value_t a, rill_value_t b) {
  if (is_num(a) && is_num(b)) {
    if (a.kind == RILL_KIND_INT && b.kind == RILL_KIND_INT)
      return a.as.i == b.as.i;
    double x = js_num(a), y = js_num(b);
    return x == y || (isnan(x) && isnan(y));
  }
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case RILL_KIND_BOOL:
    return a.as.b == b.as.b;
  case RILL_KIND_PTR:
    return a.as.ptr == b.as.ptr;
  case RILL_KIND_ARRAY: {
    size_t n = rill_array_len(a.as.array);
    if (n != rill_array_len(b.as.array))
      return false;
    for (size_t i = 0; i < n; i++)
      if (!conf_equal(rill_array_at(a.as.array, i),
                      rill_array_at(b.as.array, i)))
        return false;
    return true;
  }
  default:
    return rill_value_equal(a, b);
  }
}

void conf_format(rill_value_t v, char *buf, size_t cap) {
  const conf_atom_t *at;
  switch (v.kind) {
  case RILL_KIND_INT:
    snprintf(buf, cap, "%lld", (long long)v.as.i);
    break;
  case RILL_KIND_DOUBLE:
    snprintf(buf, cap, "%g", v.as.d);
    break;
  case RILL_KIND_BOOL:
    snprintf(buf, cap, "%s", v.as.b ? "true" : "false");
    break;
  case RILL_KIND_PTR:
    at = v.as.ptr;
    snprintf(buf, cap, at->type == CONF_STR ? "'%s'" : "%s", at->text);
    break;
  case RILL_KIND_ARRAY: {
    size_t n = rill_array_len(v.as.array), len = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && len < cap; i++) {
      if (i > 0)
        len += (size_t)snprintf(buf + len, cap - len, ",");
      if (len < cap)
        conf_format(rill_array_at(v.as.array, i), buf + len, cap - len);
      len = strlen(buf);
    }
    if (len < cap)
      snprintf(buf + len, cap - len, "]");
    break;
  }
  default:
    snprintf(buf, cap, "<kind %d>", (int)v.kind);
    break;
  }
}

/* ---- error values -------------------------------------------------------*/

static json_t **errs;
static size_t n_errs, cap_errs;

int conf_error_code(json_t *value) {
  for (size_t i = 0; i < n_errs; i++)
    if (json_equal(errs[i], value)) {
      json_decref(value);
      return CONF_CODE_BASE - (int)i;
    }
  if (n_errs == cap_errs) {
    cap_errs = cap_errs ? cap_errs * 2 : 16;
    errs = realloc(errs, cap_errs * sizeof(*errs));
    if (errs == NULL)
      abort();
  }
  errs[n_errs] = value;
  return CONF_CODE_BASE - (int)n_errs++;
}

int conf_throw_str(const char *message) {
  return conf_error_code(json_string(message));
}

json_t *conf_error_value(int code) {
  long i = (long)CONF_CODE_BASE - code;
  if (i < 0 || (size_t)i >= n_errs)
    return NULL;
  return errs[i];
}

void conf_errors_free(void) {
  for (size_t i = 0; i < n_errs; i++)
    json_decref(errs[i]);
  free(errs);
  errs = NULL;
  n_errs = cap_errs = 0;
}

/* ---- JavaScript semantics -----------------------------------------------*/

double js_num(rill_value_t v) {
  const conf_atom_t *at;
  switch (v.kind) {
  case RILL_KIND_INT:
    return (double)v.as.i;
  case RILL_KIND_DOUBLE:
    return v.as.d;
  case RILL_KIND_BOOL:
    return v.as.b ? 1 : 0;
  case RILL_KIND_PTR:
    at = v.as.ptr;
    if (at->type == CONF_NULL)
      return 0;
    if (at->type == CONF_STR) {
      const char *s = at->text;
      while (*s == ' ')
        s++;
      if (*s == '\0')
        return 0;
      char *end;
      double d = strtod(s, &end);
      while (*end == ' ')
        end++;
      return *end == '\0' ? d : NAN;
    }
    return NAN;
  default:
    return NAN;
  }
}

bool js_truthy(rill_value_t v) {
  const conf_atom_t *at;
  switch (v.kind) {
  case RILL_KIND_INT:
    return v.as.i != 0;
  case RILL_KIND_DOUBLE:
    return v.as.d != 0 && !isnan(v.as.d);
  case RILL_KIND_BOOL:
    return v.as.b;
  case RILL_KIND_PTR:
    at = v.as.ptr;
    if (at->type == CONF_STR)
      return at->text[0] != '\0';
    return at->type == CONF_OBJ;
  default:
    return true;
  }
}

void js_tostr(rill_value_t v, char *buf, size_t cap) {
  const conf_atom_t *at;
  switch (v.kind) {
  case RILL_KIND_PTR:
    at = v.as.ptr;
    snprintf(buf, cap, "%s",
             at->type == CONF_OBJ ? "[object Object]" : at->text);
    break;
  case RILL_KIND_ARRAY: {
    size_t n = rill_array_len(v.as.array), len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < cap; i++) {
      if (i > 0)
        buf[len++] = ',', buf[len] = '\0';
      js_tostr(rill_array_at(v.as.array, i), buf + len, cap - len);
      len = strlen(buf);
    }
    break;
  }
  default:
    conf_format(v, buf, cap);
    break;
  }
}

rill_value_t js_add(rill_value_t a, rill_value_t b) {
  bool sa = a.kind == RILL_KIND_PTR || a.kind == RILL_KIND_ARRAY;
  bool sb = b.kind == RILL_KIND_PTR || b.kind == RILL_KIND_ARRAY;
  const conf_atom_t *ta = conf_atom_of(a), *tb = conf_atom_of(b);
  /* null and undefined add as numbers unless the other side is a string */
  if (ta && ta->type != CONF_STR && ta->type != CONF_OBJ && !sb)
    sa = false;
  if (tb && tb->type != CONF_STR && tb->type != CONF_OBJ && !sa)
    sb = false;
  if (!sa && !sb)
    return js_number(js_num(a) + js_num(b));
  char x[512], y[512], z[1024];
  js_tostr(a, x, sizeof(x));
  js_tostr(b, y, sizeof(y));
  snprintf(z, sizeof(z), "%s%s", x, y);
  return conf_str(z);
}
