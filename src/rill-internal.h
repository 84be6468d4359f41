/* SPDX-License-Identifier: MIT */
/* rill: internal interfaces shared by src/ and operators/, one header per
 * concept under src/core/ (the kit for multi-input operators is src/kit/,
 * the I/O connectors' part src/core/fd.h):
 *   core/base.h        macros, allocation, demand arithmetic, errors
 *   core/node.h        the node, rill__emit, fused steps, lifetime
 *   core/observable.h  recipes
 *   core/op.h          the generic operator: how an operators/ file builds
 *                      a stage (the one way, for every operator)
 *   core/pull.h        pull sources, array sources, source lists
 *   core/accumulate.h  scan/reduce's fold
 *   core/time.h        scheduler object, outbox, timed operators
 *   core/fd.h          a caller's fd, fd-readiness sources
 *   core/shared.h      objects shared by pipelines: breaker, limiter
 * This umbrella includes them all, for files that use several. */
#ifndef RILL_INTERNAL_H
#define RILL_INTERNAL_H

#include "core/base.h"
#include "core/node.h"
#include "core/observable.h"
#include "core/op.h"
#include "core/pull.h"
#include "core/accumulate.h"
#include "core/time.h"
#include "core/fd.h"
#include "core/shared.h"

#endif /* RILL_INTERNAL_H */
