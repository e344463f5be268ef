/* The actors that hold kuack's state: node, scheduler, browser, pod and image. */
#ifndef KQ_ACTORS_H
#define KQ_ACTORS_H
#endif
