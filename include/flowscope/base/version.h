/* The version every binary and API reports. */
#ifndef FLOWSCOPE_BASE_VERSION_H
#define FLOWSCOPE_BASE_VERSION_H

#define FLOWSCOPE_VERSION "0.1.0"

#endif /* FLOWSCOPE_BASE_VERSION_H */
