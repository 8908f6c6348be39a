// libpng's simplified API (png_image_*), which reports errors without setjmp.
#include <png.h>
