// libcoap's source of random bytes, buffered.
#pragma once
#include <cstddef>

namespace coapnode {

// For coap_set_prng(): bytes from the kernel's CSPRNG (getrandom), drawn 256 at a time per
// thread. libcoap asks for a few bytes per message (retransmission jitter, Request-Tag, ...)
// and its default makes a system call each time.
int BufferedRandom(void* out, size_t length);

}  // namespace coapnode
