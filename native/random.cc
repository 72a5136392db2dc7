#include "random.h"

#include <sys/random.h>

#include <cstdint>
#include <cstring>

namespace coapnode {

int BufferedRandom(void* out, size_t length) {
  // Per thread, so worker threads never share (or hand out twice) the same bytes. A byte is
  // handed out once: `left` only shrinks until the next refill.
  thread_local uint8_t pool[256];
  thread_local size_t left = 0;
  auto* dst = static_cast<uint8_t*>(out);
  if (length > sizeof pool) return getrandom(dst, length, 0) == (ssize_t)length ? 1 : 0;
  while (length > 0) {
    if (left == 0) {
      if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) return 0;
      left = sizeof pool;
    }
    size_t n = length < left ? length : left;
    std::memcpy(dst, pool + sizeof pool - left, n);
    left -= n;
    dst += n;
    length -= n;
  }
  return 1;
}

}  // namespace coapnode
