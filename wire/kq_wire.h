/* Agent protocol codec (kuack.v1, msgpack) and the WebSocket/HTTP gateway on our libevent loop. */
#ifndef KQ_WIRE_H
#define KQ_WIRE_H
#endif
