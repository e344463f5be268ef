/* Placeholder: the deterministic harness implementation lands with the core runtime. */
#include "kq_harness.h"
