/* Placement policies: a small versioned vtable registered by name; select() is pure and
 * allocation-free over the scheduler's structure-of-arrays view of the browsers. */
#ifndef KQ_POLICY_H
#define KQ_POLICY_H
#endif
