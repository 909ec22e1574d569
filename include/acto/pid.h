/* acto/pid.h - actor identifiers.
 *
 * An acto_pid_t is a plain 64-bit value that names one actor incarnation.
 * It stays safe after the actor dies: sending to it returns ACTO_ENOACTOR.
 *
 *   bits  0..27  slot        index of the actor's slot on its node
 *   bits 28..51  generation  bumped each time a slot is reused (never 0)
 *   bits 52..63  node        0 = this process; reserved for distribution
 */
#ifndef ACTO_PID_H
#define ACTO_PID_H

#include <stdint.h>

typedef uint64_t acto_pid_t;

#define ACTO_PID_NONE ((acto_pid_t)0)

#define ACTO_PID_SLOT_BITS 28
#define ACTO_PID_GEN_BITS  24
#define ACTO_PID_NODE_BITS 12

#define ACTO_PID_SLOT(p) ((uint32_t)((p) & ((1u << ACTO_PID_SLOT_BITS) - 1)))
#define ACTO_PID_GEN(p)  ((uint32_t)(((p) >> ACTO_PID_SLOT_BITS) & ((1u << ACTO_PID_GEN_BITS) - 1)))
#define ACTO_PID_NODE(p) ((uint32_t)((p) >> (ACTO_PID_SLOT_BITS + ACTO_PID_GEN_BITS)))

#endif
