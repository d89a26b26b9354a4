#ifndef COEVO_CZEROMQ_SHIM_H
#define COEVO_CZEROMQ_SHIM_H
#include <zmq.h>
#include <zmq_utils.h>
#endif
