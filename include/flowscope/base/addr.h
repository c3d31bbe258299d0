/* IP addresses as text. */
#ifndef FLOWSCOPE_BASE_ADDR_H
#define FLOWSCOPE_BASE_ADDR_H

#include <stdint.h>

/* An address of family 4 or 6 (16 bytes, IPv4 in the first 4) as text, like inet_ntop. */
#define ADDR_STR_LEN 46
void addr_str(int family, const uint8_t *addr, char out[ADDR_STR_LEN]);

#endif /* FLOWSCOPE_BASE_ADDR_H */
