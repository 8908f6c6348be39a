// zlib, for gzip-compressed IDX files.
#include <zlib.h>
