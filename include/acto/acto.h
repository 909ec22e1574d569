/* acto/acto.h - the umbrella header: include this one. */
#ifndef ACTO_H
#define ACTO_H

#define ACTO_VERSION_MAJOR 0
#define ACTO_VERSION_MINOR 1
#define ACTO_VERSION_PATCH 0
#define ACTO_VERSION_STRING "0.1.0"

#include "error.h"
#include "pid.h"
#include "runtime.h"
#include "actor.h"
#include "msg.h"
#include "timer.h"
#include "trace.h"
#include "inspect.h"
#include "net.h"
#include "pubsub.h"
#include "broker.h"
#include "client.h"

#endif
